//! `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` (pycti 7.x): before registering,
//! the connector makes itself a user of its own in the platform's
//! "Connectors" group and runs as that user from then on.
//!
//! With the configured token (an admin's): find the group, find the user
//! by the e-mail derived from the connector's name, create it if missing,
//! then renew its token "Connector auto generated token" and hand back
//! the new token's plaintext, which the session uses for everything after
//! (registration, pings, works, the stream).
//!
//! Where we differ from pycti 7.261026.0, on purpose: a missing group is an
//! error naming it (pycti silently keeps the configured token); the new
//! token is created before the old one is revoked (so a failed creation
//! leaves the account usable), and every token of that name is revoked
//! (pycti revokes the first); a new user gets its one token without the
//! look-up pycti trips over.

use serde_json::json;

use crate::api::{ApiClient, ApiError, Generation};
use crate::config::{Secret, ServiceAccountConfig};

/// The platform's group for connector users.
pub(crate) const CONNECTORS_GROUP: &str = "Connectors";
/// The name pycti gives the token it renews at every start.
pub(crate) const TOKEN_NAME: &str = "Connector auto generated token";
/// Domain of the service accounts' e-mails.
const EMAIL_DOMAIN: &str = "connector.octi.filigran.io";

/// Why the service account could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceAccountError {
    /// The platform predates service accounts.
    #[error("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT needs an OpenCTI 7.x platform; this one is 6.x")]
    Platform6,
    /// No group to put the account in.
    #[error(
        "CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT: the platform has no group named \"{CONNECTORS_GROUP}\" (or OPENCTI_TOKEN's user cannot see groups); create it or turn the variable off"
    )]
    MissingGroup,
    /// The connector's name leaves nothing for an e-mail.
    #[error(
        "CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT: CONNECTOR_NAME `{name}` leaves no usable e-mail prefix"
    )]
    NoEmail {
        /// `CONNECTOR_NAME`.
        name: String,
    },
    /// A platform call failed (an OPENCTI_TOKEN without the right to
    /// manage users gets a `FORBIDDEN_ACCESS` here).
    #[error("CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT: {0}")]
    Api(#[from] ApiError),
}

/// The service account's e-mail for a connector named `name`, by pycti's
/// rule: `<name, lowercased>@connector.octi.filigran.io`, the part before
/// the first `@` with every character but ASCII letters, digits and
/// `._+-` turned into `-`, runs of `-` collapsed and `-` trimmed at both
/// ends (a name holding `@` keeps what follows it in the domain, as pycti).
pub(crate) fn email_for(name: &str) -> String {
    let email = format!("{}@{EMAIL_DOMAIN}", name.to_lowercase());
    let (prefix, domain) = email.split_once('@').unwrap_or((&email, EMAIL_DOMAIN));
    let mut normalized = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && normalized.ends_with('-')) {
            normalized.push(c);
        }
    }
    format!("{}@{domain}", normalized.trim_matches('-'))
}

/// Finds or creates the service account of connector `name` with `api`
/// (the configured, admin token), renews its token and returns the new
/// token. The token is never logged.
pub(crate) async fn provision(
    api: &ApiClient,
    name: &str,
    account: ServiceAccountConfig,
) -> Result<Secret, ServiceAccountError> {
    if api.generation() < Generation::V7 {
        return Err(ServiceAccountError::Platform6);
    }
    let group_id = api
        .group_id_by_name(CONNECTORS_GROUP)
        .await?
        .ok_or(ServiceAccountError::MissingGroup)?;
    let email = email_for(name);
    if email.starts_with('@') {
        return Err(ServiceAccountError::NoEmail {
            name: name.to_owned(),
        });
    }
    let (user, created) = match api.user_by_email(&email).await? {
        Some(user) => (user, false),
        None => {
            // A password nobody knows: the account only ever uses tokens.
            let password = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            let input = json!({
                "name": format!("[C] {name}"),
                "user_email": email,
                "password": password,
                "groups": [group_id],
                "user_confidence_level": {
                    "max_confidence": account.confidence_level,
                    "overrides": [],
                },
                "user_service_account": true,
            });
            (api.user_add(input).await?, true)
        }
    };
    let token = api.user_admin_token_add(&user.id, TOKEN_NAME).await?;
    let old_tokens = user
        .api_tokens
        .iter()
        .filter(|token| token.name.as_deref() == Some(TOKEN_NAME));
    let mut revoked = 0_usize;
    for old in old_tokens {
        api.user_admin_token_revoke(&user.id, &old.id).await?;
        revoked += 1;
    }
    tracing::info!(
        attributes.user_id = %user.id,
        attributes.user_email = %user.user_email,
        attributes.created = created,
        attributes.revoked_tokens = revoked,
        "Running as the connector's service account"
    );
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_follow_pycti_normalisation() {
        assert_eq!(
            email_for("MISP Feed"),
            "misp-feed@connector.octi.filigran.io"
        );
        assert_eq!(
            email_for("  Hello!!  World (v2) "),
            "hello-world-v2@connector.octi.filigran.io"
        );
        assert_eq!(
            email_for("a.b_c+d-e"),
            "a.b_c+d-e@connector.octi.filigran.io"
        );
        assert_eq!(email_for("Évé"), "v@connector.octi.filigran.io");
        assert_eq!(
            email_for("x@y"),
            "x@y@connector.octi.filigran.io",
            "pycti keeps what follows the first @ as domain"
        );
        assert_eq!(email_for("!!!"), "@connector.octi.filigran.io");
    }
}
