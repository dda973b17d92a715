//! Work items run on a few threads, their results taken in item order on the calling thread,
//! so that what is written does not depend on the number of threads.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How many items ahead of the next one to take a worker may start (times the worker count):
/// bounds the results waiting in memory behind a slow item.
const AHEAD_PER_WORKER: usize = 2;

/// What the workers share: the next item to start, how many were taken, and whether to stop.
#[derive(Default)]
struct Queue {
    next: usize,
    taken: usize,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A worker that panicked stops everything (see `StopOnPanic`), so the queue it held is
        // still consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Queue)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// The next item for a worker, waiting while it would run too far ahead; `None` at the end.
    fn take(&self, n: usize, ahead: usize) -> Option<usize> {
        let mut q = self.lock();
        while !q.stop && q.next < n && q.next >= q.taken + ahead {
            q = self.changed.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        if q.stop || q.next >= n {
            return None;
        }
        q.next += 1;
        Some(q.next - 1)
    }
}

/// Stops the other workers when a worker panics (the panic reaches the caller when the
/// thread scope ends).
struct StopOnPanic<'a>(&'a Shared);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.update(|q| q.stop = true);
        }
    }
}

/// What the calling thread hears from [`run_in_order`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event<T> {
    /// The result of item `.0`; items come in order.
    Done(usize, T),
    /// No result came for a tick (time to redraw a progress display).
    Waiting,
}

/// Runs `work(i)` for `i in 0..n` on `workers` threads and hands every result to `take`, in
/// order of `i`, on the calling thread, with [`Event::Waiting`] when none came for `tick`.
///
/// An error from `take` stops the workers (items already started are finished and dropped)
/// and is returned.
pub(super) fn run_in_order<T: Send, E>(
    n: usize,
    workers: usize,
    work: impl Fn(usize) -> T + Sync,
    tick: Duration,
    mut take: impl FnMut(Event<T>) -> Result<(), E>,
) -> Result<(), E> {
    let shared = Shared {
        queue: Mutex::new(Queue::default()),
        changed: Condvar::new(),
    };
    let ahead = workers.max(1) * AHEAD_PER_WORKER;
    std::thread::scope(|scope| {
        let (send, results) = mpsc::channel::<(usize, T)>();
        for _ in 0..workers.clamp(1, n.max(1)) {
            let (send, shared, work) = (send.clone(), &shared, &work);
            scope.spawn(move || {
                let _stop = StopOnPanic(shared);
                while let Some(i) = shared.take(n, ahead) {
                    if send.send((i, work(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(send);
        let mut waiting = BTreeMap::new();
        let outcome = (|| {
            for next in 0..n {
                let result = loop {
                    if let Some(result) = waiting.remove(&next) {
                        break result;
                    }
                    match results.recv_timeout(tick) {
                        Ok((i, result)) => {
                            waiting.insert(i, result);
                        }
                        Err(RecvTimeoutError::Timeout) => take(Event::Waiting)?,
                        // Every worker is gone without item `next`: one panicked, and the
                        // scope re-raises its panic.
                        Err(RecvTimeoutError::Disconnected) => return Ok(()),
                    }
                };
                take(Event::Done(next, result))?;
                shared.update(|q| q.taken = next + 1);
            }
            Ok(())
        })();
        shared.update(|q| q.stop = true);
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    fn slow_first(i: usize) -> usize {
        // Item 0 finishes last, so later items wait for it.
        if i == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        i * 10
    }

    #[test]
    fn results_are_taken_in_item_order_whatever_finishes_first() {
        for workers in [1, 2, 4] {
            let mut got = Vec::new();
            run_in_order(9, workers, slow_first, Duration::from_millis(5), |event| {
                if let Event::Done(i, r) = event {
                    got.push((i, r));
                }
                Ok::<_, ()>(())
            })
            .unwrap();
            let want: Vec<(usize, usize)> = (0..9).map(|i| (i, i * 10)).collect();
            assert_eq!(got, want, "{workers} workers");
        }
    }

    #[test]
    fn workers_stay_a_bounded_number_of_items_ahead() {
        let started = AtomicUsize::new(0);
        let mut most_ahead = 0;
        run_in_order(
            20,
            2,
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                slow_first(i)
            },
            Duration::from_millis(5),
            |event| {
                if let Event::Done(i, _) = event {
                    most_ahead = most_ahead.max(started.load(Ordering::SeqCst) - i);
                }
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        // Item 0 is taken once items 0..4 are started (2 workers, 2 items each ahead).
        assert!(most_ahead <= 2 * AHEAD_PER_WORKER, "{most_ahead} started");
    }

    #[test]
    fn an_error_stops_the_run_and_is_returned() {
        let started = AtomicUsize::new(0);
        let err = run_in_order(
            100,
            2,
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                i
            },
            Duration::from_millis(5),
            |event| match event {
                Event::Done(3, _) => Err("item 3"),
                _ => Ok(()),
            },
        )
        .unwrap_err();
        assert_eq!(err, "item 3");
        assert!(started.load(Ordering::SeqCst) <= 4 + 2 * AHEAD_PER_WORKER);
    }

    #[test]
    fn the_caller_hears_while_it_waits() {
        let mut waits = 0;
        run_in_order(2, 1, slow_first, Duration::from_millis(5), |event| {
            waits += usize::from(event == Event::Waiting);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert!(waits > 0);
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            run_in_order(
                10,
                2,
                |i| assert!(i != 5, "item 5 is broken"),
                Duration::from_millis(5),
                |_| Ok::<_, ()>(()),
            )
        });
        assert!(caught.is_err());
    }
}
