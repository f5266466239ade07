//! How a stop spends its grace period (`CONNECTOR_STOP_GRACE_PERIOD`).
//!
//! On the first SIGTERM or SIGINT the shutdown token fires. The work in
//! progress (an import run finishing its bundle, a stream sink's
//! `on_stop`) may go on for half the grace; then each closing step (the
//! run's work, the last ping carrying the state, the broker connection)
//! gets a fifth of it, so that the whole stop fits in the grace. Whatever
//! does not finish in its share is abandoned: the state the platform keeps
//! is then the one of the last successful ping, which never runs ahead of
//! what was confirmed. `cli` exits the process when the grace is over, or
//! at once on a second signal.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long the work in progress may go on after a stop was requested.
pub(crate) fn work_share(grace: Duration) -> Duration {
    grace / 2
}

/// How long each closing step may take once a stop was requested.
pub(crate) fn close_step_share(grace: Duration) -> Duration {
    grace / 5
}

/// Runs `work` to its end, unless `shutdown` fires: it then gets `extra`
/// more time (counted from now if `shutdown` has fired already) and is
/// dropped if it has not finished by then (`None`).
pub(crate) async fn or_stop_after<T>(
    shutdown: &CancellationToken,
    extra: Duration,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        result = work => Some(result),
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(extra).await;
        } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_fit_in_the_grace() {
        let grace = Duration::from_secs(10);
        // The work, then the work's close, then the last ping and the
        // broker together.
        assert!(work_share(grace) + 2 * close_step_share(grace) < grace);
    }

    #[tokio::test(start_paused = true)]
    async fn work_is_only_cut_after_a_stop_and_its_extra_time() {
        let shutdown = CancellationToken::new();
        let slow = tokio::time::sleep(Duration::from_secs(3600));
        assert_eq!(
            or_stop_after(&shutdown, Duration::from_secs(1), async {
                slow.await;
                7
            })
            .await,
            Some(7),
            "no stop: the work runs to its end"
        );
        let started = tokio::time::Instant::now();
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stopper.cancel();
        });
        let endless = std::future::pending::<()>();
        assert_eq!(
            or_stop_after(&shutdown, Duration::from_secs(2), endless).await,
            None
        );
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }
}
