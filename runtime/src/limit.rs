//! A bounded pool of reusable resources for blocking threads: at most `max`
//! exist, each is created on first need and kept for the next user. Tokio's
//! semaphore is for async tasks; password hashing runs on the blocking pool
//! and waits there.

use std::sync::{Condvar, Mutex};

pub struct Pool<T> {
    state: Mutex<State<T>>,
    returned: Condvar,
    max: usize,
}

struct State<T> {
    idle: Vec<T>,
    created: usize,
}

/// A resource taken from a [`Pool`], given back on drop.
pub struct Lease<'a, T> {
    pool: &'a Pool<T>,
    item: Option<T>,
}

impl<T> Pool<T> {
    pub const fn new(max: usize) -> Self {
        Self {
            state: Mutex::new(State {
                idle: Vec::new(),
                created: 0,
            }),
            returned: Condvar::new(),
            max,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // The state is a list and a count: a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes an idle resource, creates one if fewer than `max` exist, or
    /// waits for one to be given back.
    pub fn take(&self, create: impl FnOnce() -> T) -> Lease<'_, T> {
        let mut state = self.state();
        loop {
            if let Some(item) = state.idle.pop() {
                return Lease {
                    pool: self,
                    item: Some(item),
                };
            }
            if state.created < self.max {
                state.created += 1;
                drop(state);
                return Lease {
                    pool: self,
                    item: Some(create()),
                };
            }
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<T> std::ops::Deref for Lease<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.item
            .as_ref()
            .expect("a lease holds its item until dropped")
    }
}

impl<T> std::ops::DerefMut for Lease<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item
            .as_mut()
            .expect("a lease holds its item until dropped")
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.pool.state().idle.push(item);
            self.pool.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_bounded_reused_and_waited_for() {
        let pool = Pool::new(1);
        let mut created = 0;
        let mut first = pool.take(|| {
            created += 1;
            vec![0u8; 4]
        });
        first[0] = 7;
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| pool.take(|| panic!("over the limit"))[0]);
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!waiter.is_finished(), "the second taker waits");
            drop(first);
            assert_eq!(waiter.join().unwrap(), 7, "and gets the same resource");
        });
        assert_eq!(created, 1);
    }
}
