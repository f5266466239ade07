//! CPU work off the caller's task.

/// Runs CPU-bound `work` (splitting, encoding, converting) as a task of its
/// own, so the other worker thread keeps earlier sends flowing to the broker
/// meanwhile. A blocking thread would do too, but each one grows its own
/// allocator arena: megabytes of peak RSS. A panic in `work` panics here;
/// `None` means the runtime is shutting down and dropped the task.
pub async fn in_own_task<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn(async move { work() }).await {
        Ok(value) => Some(value),
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::in_own_task;

    #[tokio::test]
    async fn the_work_runs_and_its_panics_reach_the_caller() {
        assert_eq!(in_own_task(|| 6 * 7).await, Some(42));
        let caller = tokio::spawn(in_own_task(|| -> u8 { panic!("inside") }));
        let panic = caller.await.unwrap_err().into_panic();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"inside"));
    }
}
