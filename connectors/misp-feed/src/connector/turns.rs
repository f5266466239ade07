//! Publishing in feed order. Several events may wait for their broker
//! confirms at once, but each one starts publishing only after the event
//! before it in the feed has started: the platform then applies events in
//! the feed's order, as with the Python connector, however long each one
//! took to convert and split.

use tokio::sync::{Semaphore, SemaphorePermit, oneshot};

use super::RunError;

/// Hands out the events' turns to publish, in feed order.
#[derive(Debug, Default)]
pub(super) struct FeedOrder {
    last: Option<oneshot::Receiver<()>>,
}

impl FeedOrder {
    /// The turn of the next event that publishes.
    pub(super) fn next_turn(&mut self) -> Turn {
        let (started, next) = oneshot::channel();
        Turn {
            after: self.last.replace(next),
            started,
        }
    }
}

/// One event's place in the publishing order.
#[derive(Debug)]
pub(super) struct Turn {
    /// Fires (or closes) once the event before has taken its slot, or ended
    /// without publishing.
    after: Option<oneshot::Receiver<()>>,
    started: oneshot::Sender<()>,
}

impl Turn {
    /// A turn with no event before it.
    pub(super) fn alone() -> Self {
        FeedOrder::default().next_turn()
    }

    /// Waits until the event before has taken its slot, then takes one of
    /// `slots`, and lets the event after take its own.
    pub(super) async fn take_slot(
        self,
        slots: &Semaphore,
    ) -> Result<SemaphorePermit<'_>, RunError> {
        if let Some(after) = self.after {
            // Closed without a signal: the event before ended without
            // publishing, so the turn passes all the same.
            let _ = after.await;
        }
        let slot = slots
            .acquire()
            .await
            .map_err(|_| RunError::Interrupted("the publishing slots were closed".to_owned()))?;
        let _ = self.started.send(());
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures::poll;

    use super::*;

    #[tokio::test]
    async fn a_later_event_ready_first_waits_for_the_earlier_to_start() {
        let slots = Semaphore::new(2);
        let mut order = FeedOrder::default();
        let (first, second) = (order.next_turn(), order.next_turn());
        let mut second = pin!(second.take_slot(&slots));
        assert!(
            poll!(second.as_mut()).is_pending(),
            "the second event waits its turn"
        );
        let _first_slot = first.take_slot(&slots).await.unwrap();
        assert!(
            poll!(second.as_mut()).is_ready(),
            "then takes the free slot"
        );
    }

    #[tokio::test]
    async fn a_turn_passes_when_the_event_before_ends_without_publishing() {
        let slots = Semaphore::new(1);
        let mut order = FeedOrder::default();
        let (skipped, next) = (order.next_turn(), order.next_turn());
        drop(skipped);
        assert!(next.take_slot(&slots).await.is_ok());
    }

    #[tokio::test]
    async fn an_event_waits_for_a_free_slot_after_its_turn() {
        let slots = Semaphore::new(1);
        let mut order = FeedOrder::default();
        let (first, second) = (order.next_turn(), order.next_turn());
        let first_slot = first.take_slot(&slots).await.unwrap();
        let mut second = pin!(second.take_slot(&slots));
        assert!(poll!(second.as_mut()).is_pending(), "every slot is taken");
        drop(first_slot);
        assert!(poll!(second.as_mut()).is_ready());
    }
}
