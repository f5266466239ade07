//! A binary run as a connector's process: its environment, its log, its
//! stop on a signal and the exit it leaves (`env` and `sh` stand in for a
//! connector's binary).

use std::time::Duration;

use opencti_testkit::KitError;
use opencti_testkit::process::{ConnectorProcess, Signal};

const WITHIN: Duration = Duration::from_secs(10);

/// `sh` running `script`, with a `PATH` for its `sleep`.
fn shell(script: &str) -> ConnectorProcess {
    ConnectorProcess::spawn_with_args("/bin/sh", ["-c", script], [("PATH", "/usr/bin:/bin")])
        .unwrap()
}

#[tokio::test]
async fn the_process_gets_exactly_the_environment_given_and_its_exit_is_read() {
    // The test process has HOME, PATH, CARGO_*: none of them may show.
    let mut env =
        ConnectorProcess::spawn("/usr/bin/env", [("A", "1"), ("B", "two words")]).unwrap();
    let status = env.exit_within(WITHIN).await.unwrap().expect("env exits");
    assert!(status.success(), "{status:?}");
    assert_eq!(env.log(), "A=1\nB=two words\n");

    // Once the exit was read there is no process left to signal.
    let error = env.signal(Signal::Term).unwrap_err();
    assert!(
        matches!(&error, KitError::Process { what, .. } if what == "send SIGTERM"),
        "{error}"
    );
}

#[tokio::test]
async fn a_stop_sends_the_signal_and_reads_the_exit_and_both_output_streams() {
    let mut process =
        shell("trap 'echo stopping >&2; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
    process.wait_for_log("ready", WITHIN).await.unwrap();
    assert_eq!(
        process
            .exit_within(Duration::from_millis(200))
            .await
            .unwrap(),
        None
    );

    let stopped = process.stop(Signal::Term, WITHIN).await.unwrap();
    assert!(stopped.status.success(), "{:?}", stopped.status);
    assert!(stopped.took < WITHIN, "{stopped:?}");
    assert_eq!(process.log(), "ready\nstopping\n");
}

#[tokio::test]
async fn a_process_that_ignores_the_signal_outlasts_the_stop() {
    // SIGTERM ignored; SIGINT cuts the run short with 128 + 2, as a
    // connector's run does.
    let mut process = shell(&format!(
        "trap '' TERM; trap 'exit {}' INT; echo ready; while :; do sleep 0.05; done",
        Signal::Int.exit_code()
    ));
    process.wait_for_log("ready", WITHIN).await.unwrap();

    let error = process
        .stop(Signal::Term, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, KitError::Timeout { what, .. } if what.contains("SIGTERM")),
        "{error}"
    );
    let stopped = process.stop(Signal::Int, WITHIN).await.unwrap();
    assert_eq!(stopped.status.code(), Some(130));
    assert_eq!(Signal::Term.exit_code(), 143);
}

#[tokio::test]
async fn a_log_line_that_never_comes_is_a_timeout_naming_it() {
    let process = shell("echo ready; while :; do sleep 0.05; done");
    let error = process
        .wait_for_log("Listening", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, KitError::Timeout { what, .. } if what.contains("`Listening`")),
        "{error}"
    );
    assert_eq!(process.log(), "ready\n");
}

#[tokio::test]
async fn a_binary_that_cannot_start_is_an_error_naming_it() {
    let error =
        ConnectorProcess::spawn("/nonexistent/opencti-connector", [("A", "1")]).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("start /nonexistent/opencti-connector"),
        "{message}"
    );
}
