//! Users, groups and API tokens: what pycti 7.x's
//! `CONNECTOR_AUTO_CREATE_SERVICE_ACCOUNT` reads and changes (`groups`,
//! `users`, `userAdd`, `userAdminTokenAdd`, `userAdminTokenRevoke`), and
//! which token authenticates whom.
//!
//! The simulator's own token (or any token when none is configured) is the
//! admin; a user's token authenticates as that user, until revoked. Only
//! the admin may manage users, as the platform's `SETTINGS_SETACCESSES`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::model::{ApiTokenRecord, CONNECTORS_GROUP, GroupRecord, UserRecord};
use crate::store::State;

/// Who a bearer token authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// The simulator's own token: the platform's admin.
    Admin,
    /// A user's API token.
    User(String),
}

impl Principal {
    /// The user id recorded with each call (`None` for the admin).
    pub(crate) fn user_id(&self) -> Option<String> {
        match self {
            Self::Admin => None,
            Self::User(id) => Some(id.clone()),
        }
    }
}

/// The user owning `token`, if a user does.
pub(crate) fn token_owner(state: &State, token: &str) -> Option<String> {
    state
        .users
        .values()
        .find(|user| user.api_tokens.iter().any(|t| t.plaintext == token))
        .map(|user| user.id.clone())
}

/// The platform creates a "Connectors" group at install; so does the
/// simulator, unless one exists already (a data file, a test's changes).
pub(crate) fn seed_groups(state: &mut State) {
    if !state.groups.values().any(|g| g.name == CONNECTORS_GROUP) {
        let group = GroupRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: CONNECTORS_GROUP.to_owned(),
        };
        state.groups.insert(group.id.clone(), group);
    }
}

/// The values a `FilterGroup` asks `key` to equal (`{"key": "name",
/// "values": [...]}`, the key given as a string or a list); `None` when no
/// filter names `key`.
pub(crate) fn filter_values(filters: Option<&Value>, key: &str) -> Option<Vec<String>> {
    let filters = filters?.get("filters")?.as_array()?;
    let names_key = |filter: &Value| match filter.get("key") {
        Some(Value::String(k)) => k == key,
        Some(Value::Array(keys)) => keys.iter().any(|k| k.as_str() == Some(key)),
        _ => false,
    };
    let values: Vec<String> = filters
        .iter()
        .filter(|filter| names_key(filter))
        .flat_map(|filter| {
            filter
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    filters.iter().any(names_key).then_some(values)
}

/// Why a user mutation was refused (the message the platform would give).
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) String);

/// `userAdd(input)`.
pub(crate) fn add_user(
    state: &mut State,
    input: &Map<String, Value>,
    at: DateTime<Utc>,
) -> Result<UserRecord, Refusal> {
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::trim);
    let name = text("name")
        .filter(|n| n.chars().count() >= 2)
        .ok_or_else(|| {
            Refusal("Validation error: name must have at least 2 characters".to_owned())
        })?;
    let email = text("user_email")
        .filter(|e| e.contains('@'))
        .ok_or_else(|| Refusal("Validation error: user_email must be an email".to_owned()))?
        .to_lowercase();
    if state.users.values().any(|u| u.user_email == email) {
        return Err(Refusal("Email already exists".to_owned()));
    }
    let groups: Vec<String> = input
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if let Some(missing) = groups.iter().find(|id| !state.groups.contains_key(*id)) {
        return Err(Refusal(format!("Group {missing} does not exist")));
    }
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        user_email: email,
        service_account: input
            .get("user_service_account")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        groups,
        max_confidence: input
            .get("user_confidence_level")
            .and_then(|level| level.get("max_confidence"))
            .and_then(Value::as_i64),
        api_tokens: Vec::new(),
        created_at: at,
    };
    state.users.insert(user.id.clone(), user.clone());
    Ok(user)
}

/// `userAdminTokenAdd(userId, input)`: the new token, plaintext included.
pub(crate) fn add_token(
    state: &mut State,
    user_id: &str,
    name: &str,
    duration: &str,
    at: DateTime<Utc>,
) -> Result<ApiTokenRecord, Refusal> {
    let user = state
        .users
        .get_mut(user_id)
        .ok_or_else(|| Refusal(format!("User {user_id} does not exist")))?;
    let token = ApiTokenRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        plaintext: format!("octi-sim-{}", uuid::Uuid::new_v4().simple()),
        duration: duration.to_owned(),
        created_at: at,
    };
    user.api_tokens.push(token.clone());
    Ok(token)
}

/// `userAdminTokenRevoke(userId, id)`: the token stops authenticating.
pub(crate) fn revoke_token(
    state: &mut State,
    user_id: &str,
    token_id: &str,
) -> Result<(), Refusal> {
    let user = state
        .users
        .get_mut(user_id)
        .ok_or_else(|| Refusal(format!("User {user_id} does not exist")))?;
    let before = user.api_tokens.len();
    user.api_tokens.retain(|token| token.id != token_id);
    if user.api_tokens.len() == before {
        return Err(Refusal(format!("Token {token_id} does not exist")));
    }
    Ok(())
}

/// When a token of `duration` created at `created` expires (`None`: never).
pub(crate) fn expires_at(duration: &str, created: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let days = match duration {
        "DAYS_30" => 30,
        "DAYS_60" => 60,
        "DAYS_90" => 90,
        "DAYS_365" => 365,
        _ => return None,
    };
    Some(created + chrono::Duration::days(days))
}
