//! The `opencti-sim` binary as a user runs it: flag errors, plain logs when
//! redirected, transient names apart from durable ones, a clean SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{REGISTER_6_8, TIMEOUT};

fn sim_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opencti-sim"));
    command
        .env_remove("RUST_LOG")
        .env_remove("OPENCTI_SIM_AMQP")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn a_bad_amqp_url_is_reported_under_its_flag() {
    let output = sim_command()
        .args(["--listen", "127.0.0.1:0", "--amqp", "http://nope"])
        .output()
        .expect("opencti-sim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--amqp"), "{stderr}");
    assert!(!stderr.contains("amqp_url"), "{stderr}");
}

/// A running simulator binary whose stdout lines arrive on a channel.
struct RunningSim {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl RunningSim {
    fn start(args: &[&str]) -> (Self, String) {
        let mut child = sim_command()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .spawn()
            .expect("opencti-sim starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sim = Self {
            child,
            lines,
            seen: Vec::new(),
        };
        let url = sim
            .wait_for("listening on http://")
            .rsplit_once("listening on ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .map(str::to_owned)
            .expect("the listening line names the URL");
        (sim, url)
    }

    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(error) => {
                    let _ = self.child.kill();
                    let mut stderr = String::new();
                    if let Some(mut pipe) = self.child.stderr.take() {
                        let _ = pipe.read_to_string(&mut stderr);
                    }
                    panic!(
                        "no `{needle}` in the output ({error}): {:?}\nstderr: {stderr}",
                        self.seen
                    );
                }
            }
        }
    }

    /// SIGTERM, then the exit status and every stdout line.
    fn terminate(mut self) -> (Option<i32>, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = std::time::Instant::now() + TIMEOUT;
        let code = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("opencti-sim did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (code, self.seen)
    }
}

async fn register(url: &str, id: &str) -> Value {
    let response: Value = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .bearer_auth("any-token")
        .json(&json!({"query": REGISTER_6_8, "variables": {"input": {
            "id": id,
            "name": "binary test",
            "type": "EXTERNAL_IMPORT",
            "scope": ["indicator"],
            "auto": false,
            "only_contextual": false,
            "playbook_compatible": false,
        }}}))
        .send()
        .await
        .expect("GraphQL request")
        .json()
        .await
        .expect("JSON body");
    assert!(response.get("errors").is_none(), "{response}");
    response["data"]["registerConnector"]["config"].clone()
}

/// A durable simulator (or the platform) declares `amqp.connector.exchange`
/// durable; a transient one declaring the same name auto-delete is refused
/// by the broker. Transient runs get names of their own, different each run.
#[tokio::test]
async fn transient_runs_name_their_exchanges_apart_and_log_plain_text() {
    let mut exchanges = Vec::new();
    for _ in 0..2 {
        let (sim, url) = RunningSim::start(&["--transient-queues"]);
        let id = uuid::Uuid::new_v4().to_string();
        let config = register(&url, &id).await;
        let exchange = config["listen_exchange"].as_str().unwrap().to_owned();
        assert_ne!(exchange, "amqp.connector.exchange");
        assert_ne!(config["push_exchange"], "amqp.worker.exchange");
        exchanges.push(exchange);
        let (code, lines) = sim.terminate();
        assert_eq!(code, Some(0), "{lines:?}");
        assert!(
            lines.iter().all(|line| !line.contains('\u{1b}')),
            "colour codes in redirected logs: {lines:?}"
        );
    }
    assert_ne!(exchanges[0], exchanges[1]);
}
