//! The memory that URL-mode events may hold together between their
//! download and their broker confirms, counted in bytes: a few large
//! events can no longer be in flight at once, however few they are.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes shared by the events in flight, in KiB units (a semaphore counts
/// at most `u32::MAX` permits at once).
#[derive(Debug)]
pub(super) struct ByteBudget {
    kib: Arc<Semaphore>,
    capacity_kib: usize,
}

/// Bytes held by one event; given back when dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    permit: OwnedSemaphorePermit,
}

#[cfg(test)]
impl Reservation {
    /// Bytes held (rounded up to whole KiB).
    fn bytes(&self) -> usize {
        self.permit.num_permits() * 1024
    }
}

impl ByteBudget {
    /// A budget of `bytes` (at least 1 KiB).
    pub(super) fn new(bytes: usize) -> Self {
        let capacity_kib = (bytes / 1024).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            kib: Arc::new(Semaphore::new(capacity_kib)),
            capacity_kib,
        }
    }

    /// KiB for `bytes`: rounded up, at most the whole budget (an event
    /// larger than the budget waits until it is alone, then runs alone).
    fn kib_for(&self, bytes: usize) -> usize {
        bytes.div_ceil(1024).clamp(1, self.capacity_kib)
    }

    /// Waits until `bytes` are free and holds them. `None` once the budget
    /// is closed (never, while the run holds it).
    pub(super) async fn reserve(&self, bytes: usize) -> Option<Reservation> {
        let kib = u32::try_from(self.kib_for(bytes)).ok()?;
        let permit = Arc::clone(&self.kib).acquire_many_owned(kib).await.ok()?;
        Some(Reservation { permit })
    }

    /// Makes `reservation` hold `bytes`: gives back the surplus at once,
    /// or waits for the shortfall. Only one reservation may grow at a time
    /// (the run's single producer), so growing cannot deadlock.
    pub(super) async fn resize(&self, reservation: &mut Reservation, bytes: usize) -> Option<()> {
        let wanted = self.kib_for(bytes);
        let held = reservation.permit.num_permits();
        if wanted < held {
            drop(reservation.permit.split(held - wanted));
        } else if wanted > held {
            let more = u32::try_from(wanted - held).ok()?;
            let extra = Arc::clone(&self.kib).acquire_many_owned(more).await.ok()?;
            reservation.permit.merge(extra);
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn reservations_share_the_bytes_and_a_larger_event_runs_alone() {
        let budget = ByteBudget::new(4 * MIB);
        let first = budget.reserve(3 * MIB).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), budget.reserve(2 * MIB))
                .await
                .is_err(),
            "3 + 2 MiB do not fit in 4"
        );
        drop(first);
        let huge = budget.reserve(100 * MIB).await.unwrap();
        assert_eq!(huge.bytes(), 4 * MIB, "capped at the whole budget");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), budget.reserve(1))
                .await
                .is_err(),
            "nothing else while the huge event holds the budget"
        );
    }

    #[tokio::test]
    async fn resizing_gives_back_the_surplus_and_waits_for_the_shortfall() {
        let budget = ByteBudget::new(4 * MIB);
        let mut estimated = budget.reserve(3 * MIB).await.unwrap();
        budget.resize(&mut estimated, MIB).await.unwrap();
        assert_eq!(estimated.bytes(), MIB);
        let other = budget.reserve(3 * MIB).await.unwrap();
        let grow = async {
            budget.resize(&mut estimated, 2 * MIB).await.unwrap();
            estimated.bytes()
        };
        tokio::pin!(grow);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut grow)
                .await
                .is_err(),
            "1 + 3 MiB held: growing to 2 waits"
        );
        drop(other);
        assert_eq!(grow.await, 2 * MIB);
    }
}
