//! The control API (`/sim/api/*`) changes the simulated platform: with a
//! token configured it asks for it, like the platform's own API.

use opencti_sim::SimConfig;
use serde_json::json;

use crate::common::{TOKEN, start, start_with};

#[tokio::test]
async fn the_control_api_asks_for_the_token_when_one_is_set() {
    let sim = start_with(SimConfig {
        token: Some(opencti_sim::Secret::new(TOKEN)),
        ..SimConfig::for_tests()
    })
    .await;
    let client = reqwest::Client::new();
    let summary = format!("{}/sim/api/summary", sim.url());
    assert_eq!(
        client.get(&summary).send().await.expect("get").status(),
        401
    );
    assert_eq!(
        client
            .get(&summary)
            .bearer_auth("wrong")
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    let listen = client
        .post(format!("{}/sim/api/connectors/x/listen", sim.url()))
        .json(&json!({"event": {}}))
        .send()
        .await
        .expect("post");
    assert_eq!(listen.status(), 401, "control calls too");
    assert_eq!(
        client
            .get(&summary)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    sim.shutdown().await.expect("clean shutdown");

    let open = start().await;
    let status = client
        .get(format!("{}/sim/api/summary", open.url()))
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(status, 200, "without --token, the control API stays open");
    open.shutdown().await.expect("clean shutdown");
}
