//! The PT NAD client against the fake server: authentication, lists, bulk
//! changes and the classification of failures.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use opencti_connector::http::{DEFAULT_MAX_SERVER_DELAY, Network};
use opencti_ptnad::client::{
    ClientError, ClientSettings, Credentials, EnsuredList, ListSpec, ListType, PtnadClient,
    TlsVerification,
};
use opencti_ptnad::fake::{FakePtnad, FakeSettings};
use reqwest::Url;

fn login() -> Credentials {
    Credentials::Login {
        username: "opencti".to_owned(),
        password: "S3cret!".to_owned(),
    }
}

fn client_for(fake: &FakePtnad, credentials: Credentials) -> PtnadClient {
    client_with_timeout(fake, credentials, Duration::from_secs(5))
}

fn client_with_timeout(
    fake: &FakePtnad,
    credentials: Credentials,
    timeout: Duration,
) -> PtnadClient {
    PtnadClient::new(ClientSettings {
        base_url: Url::parse(&fake.url()).unwrap(),
        tls: TlsVerification::Off,
        credentials,
        timeout,
        max_server_delay: DEFAULT_MAX_SERVER_DELAY,
        max_list_pages: 100,
        max_lists: 10_000,
        network: Network::default(),
    })
    .unwrap()
}

fn default_specs() -> Vec<ListSpec> {
    [
        ("opencti-ip-replist", ListType::Ip, "opencti-ip"),
        ("opencti-dn-replist", ListType::Dn, "opencti-dn"),
        ("opencti-url-replist", ListType::Uri, "opencti-url"),
        ("opencti-md5-replist", ListType::Md5, "opencti-md5"),
    ]
    .into_iter()
    .map(|(name, list_type, key)| ListSpec {
        name: name.to_owned(),
        list_type,
        external_key: key.to_owned(),
    })
    .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

async fn fake() -> FakePtnad {
    FakePtnad::start(FakeSettings::default()).await.unwrap()
}

#[tokio::test]
async fn session_login_then_lists_are_created_once() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    assert_eq!(client.connect().await.unwrap(), "green");
    assert_eq!(fake.logins(), 1);

    let outcomes = client.ensure_lists(&default_specs()).await.unwrap();
    assert_eq!(outcomes, vec![EnsuredList::Created; 4]);
    let lists = fake.lists();
    let described: Vec<_> = lists
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.list_type.as_str(),
                l.color.as_str(),
                l.external_key.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        described,
        vec![
            ("opencti-ip-replist", "ip", "7", Some("opencti-ip")),
            ("opencti-dn-replist", "dn", "7", Some("opencti-dn")),
            ("opencti-url-replist", "uri", "7", Some("opencti-url")),
            ("opencti-md5-replist", "md5", "7", Some("opencti-md5")),
        ]
    );

    // A restart finds them and creates nothing.
    let again = client_for(&fake, login());
    again.connect().await.unwrap();
    assert_eq!(
        again.ensure_lists(&default_specs()).await.unwrap(),
        vec![EnsuredList::Existing; 4]
    );
    assert_eq!(fake.lists().len(), 4);
}

#[tokio::test]
async fn existing_lists_are_found_across_pages() {
    let fake = FakePtnad::start(FakeSettings {
        max_page_size: 2,
        ..FakeSettings::default()
    })
    .await
    .unwrap();
    for i in 0..5 {
        fake.insert_list(&format!("manual-{i}"), "ip", None, &[]);
    }
    fake.insert_list(
        "renamed-by-hand",
        "md5",
        Some("opencti-md5"),
        &["0123456789abcdef0123456789abcdef"],
    );
    let client = client_for(&fake, login());
    client.connect().await.unwrap();

    assert_eq!(client.replists().await.unwrap().len(), 6);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.method == Method::GET && r.path == "/api/v2/replists")
        .count();
    assert_eq!(pages, 3, "6 lists at 2 per page");

    let outcomes = client.ensure_lists(&default_specs()).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            EnsuredList::Created,
            EnsuredList::Created,
            EnsuredList::Created,
            EnsuredList::Existing
        ]
    );
    assert_eq!(fake.lists().len(), 9);
    assert_eq!(
        fake.values("opencti-md5").unwrap().len(),
        1,
        "existing items are kept"
    );
}

#[tokio::test]
async fn a_list_of_another_type_under_our_key_is_refused() {
    let fake = fake().await;
    fake.insert_list("someone-else", "dn", Some("opencti-ip"), &[]);
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    let error = client.ensure_lists(&default_specs()).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::ListTypeMismatch { external_key, found, expected: ListType::Ip, .. }
            if external_key == "opencti-ip" && found == "dn"),
        "{error}"
    );
}

#[tokio::test]
async fn invalid_list_names_are_refused_before_any_request() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    fake.clear_requests();
    let mut specs = default_specs();
    specs[2].name = "OpenCTI URL list".to_owned();
    let error = client.ensure_lists(&specs).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::InvalidListName { name } if name == "OpenCTI URL list"),
        "{error}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn bulk_add_and_remove_keep_values_intact() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();

    let urls = strings(&[
        "http://evil.example/a/b?x=1#frag",
        "https://evil.example/it's",
        "http://evil.example/%2F encoded",
    ]);
    client.add_items("opencti-url", &urls).await.unwrap();
    assert_eq!(
        fake.values("opencti-url").unwrap(),
        urls.iter().cloned().collect()
    );

    client
        .remove_items("opencti-url", &urls[..2])
        .await
        .unwrap();
    assert_eq!(
        fake.values("opencti-url").unwrap(),
        urls[2..].iter().cloned().collect()
    );

    // Removing an absent value is harmless.
    client
        .remove_items("opencti-url", &strings(&["http://never.example/"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn large_batches_are_split_into_bounded_requests() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();
    fake.clear_requests();

    let hashes: Vec<String> = (0..2500u32).map(|i| format!("{i:032x}")).collect();
    client.add_items("opencti-md5", &hashes).await.unwrap();
    assert_eq!(fake.values("opencti-md5").unwrap().len(), 2500);
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn token_authentication_needs_no_login_nor_csrf() {
    let fake = FakePtnad::start(FakeSettings {
        token: Some("api-token".to_owned()),
        ..FakeSettings::default()
    })
    .await
    .unwrap();
    let client = client_for(&fake, Credentials::Token("api-token".to_owned()));
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();
    client
        .add_items("opencti-ip", &strings(&["198.51.100.7"]))
        .await
        .unwrap();
    assert_eq!(fake.values("opencti-ip").unwrap().len(), 1);
    assert_eq!(fake.logins(), 0);

    let wrong = client_for(&fake, Credentials::Token("stale".to_owned()));
    let error = wrong.connect().await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(error.is_auth_failure());
}

#[tokio::test]
async fn wrong_password_is_an_authentication_failure() {
    let fake = fake().await;
    let client = client_for(
        &fake,
        Credentials::Login {
            username: "opencti".to_owned(),
            password: "wrong".to_owned(),
        },
    );
    let error = client.connect().await.unwrap_err();
    assert!(
        matches!(error, ClientError::LoginRefused { status: 401, .. }),
        "{error}"
    );
    assert!(error.is_auth_failure());
    assert!(
        !error.to_string().contains("wrong"),
        "the password never appears: {error}"
    );
}

#[tokio::test]
async fn the_fake_enforces_csrf_on_writes() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/api/v2/auth/login", fake.url()))
        .json(&serde_json::json!({"username": "opencti", "password": "S3cret!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("csrftoken="))
        .unwrap()
        .to_owned();
    let cookie_header = cookies.join("; ");
    let create = |with_csrf: bool, with_referer: bool| {
        let mut request = http
            .post(format!("{}/api/v2/replists", fake.url()))
            .header("cookie", &cookie_header)
            .json(&serde_json::json!({"name": "x", "type": "ip", "color": "7"}));
        if with_csrf {
            request = request.header("x-csrftoken", &csrf);
        }
        if with_referer {
            request = request.header("referer", format!("{}/api/v2/", fake.url()));
        }
        request.send()
    };
    assert_eq!(
        create(false, true).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(true, false).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(true, true).await.unwrap().status(),
        StatusCode::CREATED
    );
}

async fn relogin_after_expiry(unauthenticated_status: StatusCode) {
    let fake = FakePtnad::start(FakeSettings {
        unauthenticated_status,
        ..FakeSettings::default()
    })
    .await
    .unwrap();
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();

    fake.expire_sessions();
    client
        .add_items("opencti-dn", &strings(&["a.example"]))
        .await
        .unwrap();
    assert_eq!(fake.logins(), 2);
    assert_eq!(fake.values("opencti-dn").unwrap().len(), 1);

    fake.expire_sessions();
    assert_eq!(
        client.replists().await.unwrap().len(),
        4,
        "reads recover too"
    );
    assert_eq!(fake.logins(), 3);
}

#[tokio::test]
async fn an_expired_session_logs_in_again_on_403() {
    relogin_after_expiry(StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn an_expired_session_logs_in_again_on_401() {
    relogin_after_expiry(StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_persistent_403_is_reported_after_one_fresh_login() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();
    fake.inject_failures(StatusCode::FORBIDDEN, 2, None);
    let error = client
        .add_items("opencti-ip", &strings(&["192.0.2.1"]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Unauthorized { status: 403, .. }),
        "{error}"
    );
    assert!(
        error.is_retryable(),
        "an operator can fix permissions; the data is fine"
    );
    assert_eq!(fake.logins(), 2, "exactly one new login");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();
    let values = strings(&["192.0.2.1"]);

    fake.inject_failures(StatusCode::TOO_MANY_REQUESTS, 1, Some(7));
    let error = client.add_items("opencti-ip", &values).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unavailable { status: 429, .. }),
        "{error}"
    );
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));

    fake.inject_failures(StatusCode::INTERNAL_SERVER_ERROR, 1, None);
    let error = client
        .remove_items("opencti-ip", &values)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Unavailable { status: 500, .. }),
        "{error}"
    );
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), None);

    client.add_items("opencti-ip", &values).await.unwrap();
    assert_eq!(fake.values("opencti-ip").unwrap().len(), 1);
}

#[tokio::test]
async fn rejections_carry_pt_nad_error_text() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();

    let error = client
        .add_items("opencti-ip", &strings(&["192.0.2.1", "not-an-ip"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Rejected { status: 400, detail, .. } if detail.contains("Invalid ip value: not-an-ip")),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert!(
        fake.values("opencti-ip").unwrap().is_empty(),
        "the request was refused whole"
    );

    let error = client
        .add_items("no-such-key", &strings(&["192.0.2.1"]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Rejected { status: 404, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn slow_answers_time_out_as_retryable() {
    let fake = fake().await;
    let client = client_with_timeout(&fake, login(), Duration::from_millis(200));
    client.connect().await.unwrap();
    fake.set_delay(Some(Duration::from_secs(2)));
    let error = client.status().await.unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = PtnadClient::new(ClientSettings {
        base_url: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        tls: TlsVerification::Off,
        credentials: login(),
        timeout: Duration::from_secs(2),
        max_server_delay: DEFAULT_MAX_SERVER_DELAY,
        max_list_pages: 100,
        max_lists: 10_000,
        network: Network::default(),
    })
    .unwrap();
    let error = client.connect().await.unwrap_err();
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    assert!(error.is_retryable());
    assert!(!error.is_auth_failure());
}

#[tokio::test]
async fn an_unreadable_ca_bundle_is_a_setup_error() {
    let error = PtnadClient::new(ClientSettings {
        base_url: Url::parse("https://nad.example").unwrap(),
        tls: TlsVerification::CaBundle("/nonexistent/ca.pem".into()),
        credentials: login(),
        timeout: Duration::from_secs(1),
        max_server_delay: DEFAULT_MAX_SERVER_DELAY,
        max_list_pages: 100,
        max_lists: 10_000,
        network: Network::default(),
    })
    .unwrap_err();
    assert!(
        matches!(&error, ClientError::Tls { detail } if detail.contains("/nonexistent/ca.pem")),
        "{error}"
    );
}

/// Vendor drill: a list of reputation lists that announces a next page
/// for ever stops at the page bound with an error naming the variable, and
/// the next call works once the pagination is sane.
#[tokio::test]
async fn endless_list_pagination_stops_at_the_bounds() {
    let fake = fake().await;
    let client = client_for(&fake, login());
    client.connect().await.unwrap();
    client.ensure_lists(&default_specs()).await.unwrap();
    fake.set_endless_pages(true);
    let error = tokio::time::timeout(Duration::from_secs(30), client.replists())
        .await
        .expect("bounded in time")
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::TooManyLists {
                what: "pages",
                limit: 100,
                ..
            } | ClientError::TooManyLists { what: "lists", .. }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("PTNAD_MAX_"), "{error}");
    fake.set_endless_pages(false);
    assert_eq!(client.replists().await.unwrap().len(), 4);
}
