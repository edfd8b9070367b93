//! A counting semaphore for blocking threads. Tokio's semaphore is for
//! async tasks; password hashing runs on the blocking pool and must wait
//! there, for a bounded time.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Slots {
    free: Mutex<u32>,
    released: Condvar,
}

/// A held slot, given back on drop.
pub struct Slot<'a>(&'a Slots);

impl Slots {
    pub fn new(n: u32) -> Self {
        Self {
            free: Mutex::new(n),
            released: Condvar::new(),
        }
    }

    /// Takes a slot, waiting at most `wait`; `None` if none came free.
    pub fn acquire(&self, wait: Duration) -> Option<Slot<'_>> {
        let deadline = Instant::now() + wait;
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            let left = deadline.checked_duration_since(Instant::now())?;
            free = self
                .released
                .wait_timeout(free, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *free -= 1;
        Some(Slot(self))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_given_back() {
        let slots = Slots::new(1);
        let held = slots.acquire(Duration::ZERO).expect("one free slot");
        assert!(slots.acquire(Duration::from_millis(10)).is_none());
        drop(held);
        assert!(slots.acquire(Duration::ZERO).is_some());
    }
}
