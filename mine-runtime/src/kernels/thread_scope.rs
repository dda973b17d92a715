//! A setting of the calling thread that a guard holds until it drops: the mechanism behind
//! [`autocast::scope`](super::autocast::scope) and [`scope`](super::scope) (the kernel
//! options).

use std::cell::Cell;
use std::marker::PhantomData;
use std::thread::LocalKey;

/// The guard of a thread's setting: restores the value it replaced when dropped, unwinding
/// included. Tied to the thread that opened it (not `Send`).
#[must_use = "the setting applies only while the guard lives"]
pub struct ThreadScope<T: Copy + 'static> {
    key: &'static LocalKey<Cell<T>>,
    previous: T,
    _thread: PhantomData<*const ()>,
}

impl<T: Copy + 'static> ThreadScope<T> {
    /// Sets `key` to `value` on the calling thread until the guard drops.
    pub(super) fn enter(key: &'static LocalKey<Cell<T>>, value: T) -> Self {
        Self {
            key,
            previous: key.with(|cell| cell.replace(value)),
            _thread: PhantomData,
        }
    }
}

impl<T: Copy + 'static> Drop for ThreadScope<T> {
    fn drop(&mut self) {
        self.key.with(|cell| cell.set(self.previous));
    }
}

impl<T: Copy + std::fmt::Debug + 'static> std::fmt::Debug for ThreadScope<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadScope")
            .field("previous", &self.previous)
            .finish()
    }
}
