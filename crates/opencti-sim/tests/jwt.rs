//! Connector JWTs on 7.x: the key set handed out at registration verifies
//! the tokens `connectorJWT` issues, as pycti's API listen protocol checks.

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use opencti_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};

use crate::common::{TIMEOUT, graphql, graphql_ok, start_with};

const REGISTER_7X: &str = "mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id connector_state jwks config { connection { host } push } connector_user_id } }";
const CONNECTOR_JWT: &str = "mutation ConnectorJWT { connectorJWT }";

fn seven_x() -> SimConfig {
    SimConfig {
        platform_version: "7.261026.0".to_owned(),
        ..SimConfig::for_tests()
    }
}

fn register_input(id: &str) -> Value {
    json!({"input": {
        "id": id,
        "name": "API listen connector",
        "type": "INTERNAL_ENRICHMENT",
        "scope": ["indicator"],
        "auto": false,
        "auto_update": false,
        "enrichment_resolution": "none",
        "only_contextual": false,
        "playbook_compatible": false,
        "listen_callback_uri": "http://127.0.0.1:9/callback",
    }})
}

/// Registers with pycti 7.x's selection and returns the `jwks` string.
async fn register_jwks(sim: &SimHandle) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let data = graphql_ok(sim, REGISTER_7X, register_input(&id)).await;
    data["registerConnector"]["jwks"]
        .as_str()
        .expect("jwks is a string")
        .to_owned()
}

fn decode_json(part: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url part");
    serde_json::from_slice(&bytes).expect("JSON part")
}

#[tokio::test]
async fn the_registration_key_set_verifies_issued_connector_jwts() {
    let sim = start_with(seven_x()).await;
    let jwks: Value = serde_json::from_str(&register_jwks(&sim).await).expect("jwks is JSON");
    let keys = jwks["keys"].as_array().expect("keys array");
    assert_eq!(keys.len(), 1, "{jwks}");
    let key = &keys[0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig")
        )
    );
    let public = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().expect("x"))
        .expect("x is unpadded base64url");

    let before = chrono::Utc::now().timestamp();
    let data = graphql_ok(&sim, CONNECTOR_JWT, json!({})).await;
    let after = chrono::Utc::now().timestamp();
    let token = data["connectorJWT"].as_str().expect("token string");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS: {token}");

    let header = decode_json(parts[0]);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(
        header["kid"], key["kid"],
        "the token names the published key"
    );

    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    let signed = format!("{}.{}", parts[0], parts[1]);
    let verifier = UnparsedPublicKey::new(&ED25519, &public);
    assert!(verifier.verify(signed.as_bytes(), &signature).is_ok());

    let claims = decode_json(parts[1]);
    assert_eq!(claims["iss"], "opencti");
    assert_eq!(claims["sub"], "connector");
    let issued_at = claims["iat"].as_i64().expect("iat");
    assert!((before..=after).contains(&issued_at), "iat {issued_at}");
    assert_eq!(claims["exp"].as_i64(), Some(issued_at + 3600));

    // A second registration sees the same key: it belongs to the platform.
    assert_eq!(
        serde_json::from_str::<Value>(&register_jwks(&sim).await).expect("jwks"),
        jwks
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_strict_6x_platform_has_neither_jwks_nor_connector_jwt() {
    let sim = start_with(SimConfig {
        strict_generation: true,
        ..SimConfig::for_tests()
    })
    .await;
    let id = uuid::Uuid::new_v4().to_string();
    for (query, variables) in [
        (REGISTER_7X, register_input(&id)),
        (CONNECTOR_JWT, json!({})),
    ] {
        let refused = graphql(&sim, query, variables).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{query}: {refused}"
        );
    }
    sim.shutdown().await.expect("clean shutdown");
}

/// pycti 7.x's own check (`is_token_valid`): PyJWT, the registration JWK
/// Set, the key found by `kid`, its algorithm, issuer and subject.
const PYJWT_CHECK: &str = r#"
import sys, jwt
from jwt import PyJWKSet
jwks = PyJWKSet.from_json(sys.argv[1])
token = sys.argv[2]
key = jwks[jwt.get_unverified_header(token)["kid"]]
jwt.decode(token, key=key, algorithms=[key.algorithm_name], issuer="opencti", subject="connector")
print("valid")
"#;

#[tokio::test]
async fn pyjwt_accepts_the_token_with_the_registration_key_set() {
    let Some(python) = crate::common::pycti_python() else {
        println!("skipped: set OPENCTI_SIM_PYTHON to check tokens with PyJWT");
        return;
    };
    let sim = start_with(seven_x()).await;
    let jwks = register_jwks(&sim).await;
    let data = graphql_ok(&sim, CONNECTOR_JWT, json!({})).await;
    let token = data["connectorJWT"].as_str().expect("token").to_owned();
    let check = |token: String| {
        let output = tokio::process::Command::new(&python)
            .args(["-c", PYJWT_CHECK, &jwks, &token])
            .kill_on_drop(true)
            .output();
        async move {
            tokio::time::timeout(TIMEOUT, output)
                .await
                .expect("python answers in time")
                .expect("python runs")
        }
    };
    let accepted = check(token.clone()).await;
    assert!(
        accepted.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    // The check can fail: a token with another signature is refused.
    let (signed, _) = token.rsplit_once('.').expect("three parts");
    let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([0_u8; 64]));
    assert!(!check(forged).await.status.success());
    sim.shutdown().await.expect("clean shutdown");
}
