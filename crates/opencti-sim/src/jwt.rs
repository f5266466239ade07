//! The platform's connector JWTs: an Ed25519 key pair whose public half is
//! handed to connectors at registration (`jwks`, a JWK Set as a JSON string)
//! and whose private half signs the tokens `connectorJWT` returns. pycti 7.x
//! checks those tokens on its API listen protocol.
//!
//! Each simulator instance generates its own key: nothing outlives the
//! process, so a connector must register again after a simulator restart
//! (pycti does so at every start) to learn the new key.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::error::SimError;

/// How long an issued token is valid, like the platform's `1h`.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// Signs connector JWTs with this instance's Ed25519 key.
pub(crate) struct ConnectorSigner {
    key_pair: Ed25519KeyPair,
    kid: String,
    jwks: String,
}

impl ConnectorSigner {
    /// A fresh random key pair.
    pub(crate) fn generate() -> Result<Self, SimError> {
        let key_pair = Ed25519KeyPair::generate().map_err(|error| SimError::SigningKey {
            reason: error.to_string(),
        })?;
        let x = URL_SAFE_NO_PAD.encode(key_pair.public_key().as_ref());
        // RFC 7638 thumbprint: a kid that names this exact key, computed
        // over the required members in lexicographic order.
        let thumbprint_input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, thumbprint_input.as_bytes()));
        let jwks = json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": kid,
            "alg": "EdDSA",
            "use": "sig",
        }]})
        .to_string();
        Ok(Self {
            key_pair,
            kid,
            jwks,
        })
    }

    /// The public key as the JSON text of a JWK Set.
    pub(crate) fn jwks(&self) -> &str {
        &self.jwks
    }

    /// A compact JWS (`EdDSA`, header `kid`) with the platform's claims,
    /// issued at `issued_at` (Unix seconds) and valid for one hour.
    pub(crate) fn issue(&self, issued_at: i64) -> String {
        let header = json!({"alg": "EdDSA", "kid": self.kid});
        let claims = json!({
            "iss": "opencti",
            "sub": "connector",
            "iat": issued_at,
            "exp": issued_at + TOKEN_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key_pair.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

impl fmt::Debug for ConnectorSigner {
    // The private key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
    use serde_json::Value;

    use super::*;

    fn decode_json(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
    }

    #[test]
    fn tokens_verify_with_the_published_key_and_carry_the_platform_claims() {
        let signer = ConnectorSigner::generate().expect("key");
        let jwks: Value = serde_json::from_str(signer.jwks()).expect("jwks json");
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        let public = URL_SAFE_NO_PAD
            .decode(key["x"].as_str().expect("x"))
            .expect("x is base64url");
        assert_eq!(public.len(), 32);

        let token = signer.issue(1_700_000_000);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode_json(parts[0]);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], key["kid"]);
        let claims = decode_json(parts[1]);
        assert_eq!(
            claims,
            json!({"iss": "opencti", "sub": "connector", "iat": 1_700_000_000_i64, "exp": 1_700_003_600_i64})
        );
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
        let verifier = UnparsedPublicKey::new(&ED25519, &public);
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(verifier.verify(signed.as_bytes(), &signature).is_ok());
        assert!(verifier.verify(b"tampered", &signature).is_err());
    }

    #[test]
    fn each_instance_has_its_own_key_and_debug_hides_it() {
        let first = ConnectorSigner::generate().expect("key");
        let second = ConnectorSigner::generate().expect("key");
        assert_ne!(first.jwks(), second.jwks());
        assert_ne!(first.kid, second.kid);
        let shown = format!("{first:?}");
        assert!(shown.contains(&first.kid) && !shown.contains("key_pair"));
    }
}
