//! The ThreatVision client against the fake API: both authentication
//! modes, token renewal, retries and malformed answers.

use std::time::{Duration, Instant};

use opencti_connector::config::Secret;
use opencti_teamt5::client::{ClientError, Teamt5Client};
use opencti_teamt5::config::{Auth, parse_base_url};
use opencti_teamt5::fake::{FakeSettings, FakeTeamt5, Fault};
use opencti_teamt5::mapping::Kind;

use crate::support::{fake, fake_with, fast_http, fixture, ioc_item, report_item};

fn oauth(id: &str, secret: &str) -> Auth {
    Auth::OAuth {
        client_id: Secret::new(id),
        client_secret: Secret::new(secret),
    }
}

fn client(fake: &FakeTeamt5, auth: Auth) -> Teamt5Client {
    Teamt5Client::new(parse_base_url(&fake.url()).unwrap(), auth, fast_http()).unwrap()
}

#[tokio::test]
async fn a_static_key_is_sent_as_bearer_and_no_token_is_requested() {
    let fake = fake_with(FakeSettings {
        api_key: Some("test-key".to_owned()),
        ..FakeSettings::default()
    })
    .await;
    let client = client(&fake, Auth::ApiKey(Secret::new("test-key")));
    client.authenticate().await.unwrap();
    client.listing_page(Kind::Report, 0, 0).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer test-key")
    );
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn oauth_posts_the_client_credentials_in_the_form() {
    let fake = fake().await;
    let client = client(&fake, oauth("cid", "csecret"));
    client.authenticate().await.unwrap();
    client.listing_page(Kind::Report, 0, 42).await.unwrap();
    let token = &fake.requests_to("/oauth/token")[0];
    assert_eq!(
        token.form,
        [
            ("client_id", "cid"),
            ("client_secret", "csecret"),
            ("grant_type", "client_credentials")
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    );
    let listing = &fake.requests_to("/api/v2/reports")[0];
    assert_eq!(listing.authorization.as_deref(), Some("Bearer token-1"));
    assert_eq!(listing.query.get("offset").map(String::as_str), Some("0"));
    assert_eq!(
        listing.query.get("date[from]").map(String::as_str),
        Some("42")
    );
}

#[tokio::test]
async fn a_valid_token_is_reused_and_an_expiring_one_renewed() {
    let fake = fake().await;
    let client = client(&fake, oauth("cid", "csecret"));
    for _ in 0..3 {
        client.listing_page(Kind::IocBundle, 0, 0).await.unwrap();
    }
    assert_eq!(fake.tokens_issued(), 1);

    // A lifetime within the renewal margin: every call renews first.
    let short = fake_with(FakeSettings {
        token_lifetime: 60,
        ..FakeSettings::default()
    })
    .await;
    let client = self::client(&short, oauth("cid", "csecret"));
    for _ in 0..3 {
        client.listing_page(Kind::IocBundle, 0, 0).await.unwrap();
    }
    assert_eq!(short.tokens_issued(), 3);
    let used: Vec<_> = short
        .requests_to("/api/v2/ioc_bundles")
        .into_iter()
        .map(|request| request.authorization.unwrap())
        .collect();
    assert_eq!(used, ["Bearer token-1", "Bearer token-2", "Bearer token-3"]);
}

#[tokio::test]
async fn a_token_revoked_by_the_server_is_renewed_after_the_401() {
    let fake = fake().await;
    let client = client(&fake, oauth("cid", "csecret"));
    client.listing_page(Kind::Report, 0, 0).await.unwrap();
    fake.revoke_tokens();
    client.listing_page(Kind::Report, 0, 0).await.unwrap();
    let statuses: Vec<u16> = fake
        .requests_to("/api/v2/reports")
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
    assert_eq!(fake.tokens_issued(), 2);
}

#[tokio::test]
async fn a_static_key_that_stops_working_fails_with_the_status() {
    let fake = fake_with(FakeSettings {
        api_key: Some("good".to_owned()),
        ..FakeSettings::default()
    })
    .await;
    let client = client(&fake, Auth::ApiKey(Secret::new("revoked")));
    let error = client.listing_page(Kind::Report, 0, 0).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Status { status: 401, .. }),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_naming_the_cause() {
    let fake = fake().await;
    let client = client(&fake, oauth("cid", "wrong-secret-5f3a"));
    let error = client.authenticate().await.unwrap_err();
    assert!(error.is_auth());
    let text = error.to_string();
    assert!(
        text.starts_with("Failed to obtain OAuth token from TeamT5"),
        "{text}"
    );
    assert!(
        text.contains("401") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-secret-5f3a"),
        "the secret leaked: {text}"
    );
    // Not retried: the credentials will not improve.
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_token_endpoint_hiccup_is_retried() {
    let fake = fake().await;
    fake.fail_next("/oauth/token", [Fault::Status(503, None)]);
    let client = client(&fake, oauth("cid", "csecret"));
    client.authenticate().await.unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(fake.requests_to("/oauth/token").len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_and_retry_after_honoured() {
    let fake = fake().await;
    fake.fail_next(
        "/api/v2/reports",
        [Fault::Status(429, Some(1)), Fault::Status(502, None)],
    );
    let client = client(&fake, oauth("cid", "csecret"));
    let started = Instant::now();
    client.listing_page(Kind::Report, 0, 0).await.unwrap();
    // The backoff alone is 5 ms then 10 ms; Retry-After asked for a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fake.requests_to("/api/v2/reports").len(), 3);
}

#[tokio::test]
async fn retries_end_with_the_last_error() {
    let fake = fake().await;
    fake.fail_next("/api/v2/reports", [Fault::Status(500, None); 3]);
    let client = client(&fake, oauth("cid", "csecret"));
    let error = client.listing_page(Kind::Report, 0, 0).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Status { status: 500, .. }),
        "{error}"
    );
    assert_eq!(fake.requests_to("/api/v2/reports").len(), 3);
}

#[tokio::test]
async fn unsuccessful_truncated_and_malformed_answers_are_errors() {
    let fake = fake().await;
    fake.add_report(
        report_item(&fake, "a", "A", 10),
        &fixture("report-bundle.json"),
    );
    fake.fail_next("/api/v2/reports", [Fault::Unsuccessful]);
    fake.fail_next(
        "/api/v2/reports/a.stix",
        [Fault::Truncated, Fault::Malformed],
    );
    let client = client(&fake, oauth("cid", "csecret"));
    assert!(matches!(
        client.listing_page(Kind::Report, 0, 0).await,
        Err(ClientError::Unsuccessful { .. })
    ));
    let url = format!("{}api/v2/reports/a.stix", fake.url());
    for _ in 0..2 {
        let error = client.bundle_objects(&url).await.unwrap_err();
        assert!(matches!(error, ClientError::Malformed { .. }), "{error}");
    }
    assert_eq!(client.bundle_objects(&url).await.unwrap().len(), 5);
}

#[tokio::test]
async fn the_token_is_not_sent_to_other_hosts() {
    let api = fake().await;
    let other = fake_with(FakeSettings {
        api_key: Some("public".to_owned()),
        ..FakeSettings::default()
    })
    .await;
    other.add_ioc_bundle(ioc_item(&other, "b1", 5), &fixture("ioc-bundle.json"));
    let client = client(&api, oauth("cid", "csecret"));
    let url = format!("{}api/v2/ioc_bundles/b1.stix", other.url());
    // The other host wants its own credentials: it gets none from us.
    let error = client.bundle_objects(&url).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Status { status: 401, .. }),
        "{error}"
    );
    assert_eq!(other.requests()[0].authorization, None);
    let same = format!("{}api/v2/ioc_bundles/b1.stix", api.url());
    api.put_file(
        "/api/v2/ioc_bundles/b1.stix",
        fixture("ioc-bundle.json").to_string(),
    );
    assert_eq!(client.bundle_objects(&same).await.unwrap().len(), 3);
    assert!(
        api.requests_to("/api/v2/ioc_bundles/b1.stix")[0]
            .authorization
            .is_some()
    );
}

#[tokio::test]
async fn debug_output_hides_the_token() {
    let fake = fake_with(FakeSettings {
        client_secret: "csecret-hidden".to_owned(),
        ..FakeSettings::default()
    })
    .await;
    let client = client(&fake, oauth("cid", "csecret-hidden"));
    client.authenticate().await.unwrap();
    let debug = format!("{client:?}");
    assert!(
        !debug.contains("token-1") && !debug.contains("csecret-hidden"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_connection_dropped_mid_body_is_retried() {
    let fake = fake().await;
    fake.add_report(
        report_item(&fake, "a", "A", 10),
        &fixture("report-bundle.json"),
    );
    fake.fail_next("/api/v2/reports/a.stix", [Fault::Drop, Fault::Drop]);
    let client = client(&fake, oauth("cid", "csecret"));
    let url = format!("{}api/v2/reports/a.stix", fake.url());
    assert_eq!(client.bundle_objects(&url).await.unwrap().len(), 5);
    assert_eq!(fake.requests_to("/api/v2/reports/a.stix").len(), 3);
    fake.fail_next("/api/v2/reports/a.stix", [Fault::Drop; 3]);
    let error = client.bundle_objects(&url).await.unwrap_err();
    assert!(matches!(error, ClientError::Transport { .. }), "{error}");
}

#[tokio::test]
async fn an_https_base_builds_a_tls_client_and_errors_name_the_url() {
    // A closed local port: the TLS client builds, and the error names the URL.
    let client = Teamt5Client::new(
        parse_base_url("https://127.0.0.1:9/").unwrap(),
        Auth::ApiKey(Secret::new("k")),
        fast_http(),
    )
    .unwrap();
    let error = client.listing_page(Kind::Report, 0, 0).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::Transport { url, .. } if url == "https://127.0.0.1:9/api/v2/reports"),
        "{error}"
    );
}
