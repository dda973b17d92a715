//! Ordered parallel production with a bounded window: worker threads produce items `0..n` (each
//! exactly once), at most `window` items ahead of the consumer, and the items come out in
//! index order whatever the threads' timing.
//!
//! Dropping a [`Prefetch`] stops it: workers waiting for the consumer are woken, the receiver is
//! dropped so that a send fails instead of blocking, and the workers are joined (a worker in the
//! middle of producing an item finishes that item first). Nothing spins.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The workers stopped before producing every item (one of them panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorkersStopped;

/// Where the consumer is, which the workers wait on.
struct Gate {
    /// Items handed to the consumer so far.
    consumed: usize,
    /// Set when the consumer is gone.
    stop: bool,
}

struct Shared {
    gate: Mutex<Gate>,
    wake: Condvar,
}

impl Shared {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Items `0..len` produced on background threads, yielded in order; dropping it stops and
/// joins the workers.
pub(crate) struct Prefetch<T> {
    /// `None` once dropped (the workers' sends then fail).
    rx: Option<Receiver<(usize, T)>>,
    pending: BTreeMap<usize, T>,
    next: usize,
    len: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> Prefetch<T> {
    /// Starts `workers` threads (at least one) producing `produce(i)` for every `i` in
    /// `0..len`, at most `window` (at least one) items ahead of the consumer.
    pub(crate) fn start(
        len: usize,
        workers: usize,
        window: usize,
        produce: impl Fn(usize) -> T + Send + Sync + 'static,
    ) -> Self {
        let (workers_n, window) = (workers.max(1), window.max(1));
        // Never full: at most `window` items are between the consumer and the workers.
        let (tx, rx) = sync_channel(window + workers_n);
        let shared = Arc::new(Shared {
            gate: Mutex::new(Gate {
                consumed: 0,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let produce = Arc::new(produce);
        let next_job = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers_n)
            .map(|_| {
                let (produce, next_job, shared, tx) = (
                    produce.clone(),
                    next_job.clone(),
                    shared.clone(),
                    tx.clone(),
                );
                std::thread::spawn(move || {
                    loop {
                        let job = next_job.fetch_add(1, Ordering::SeqCst);
                        if job >= len {
                            return;
                        }
                        {
                            let mut gate = shared.gate();
                            while job >= gate.consumed + window && !gate.stop {
                                gate = shared.wake.wait(gate).unwrap_or_else(|p| p.into_inner());
                            }
                            if gate.stop {
                                return;
                            }
                        }
                        if tx.send((job, produce(job))).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self {
            rx: Some(rx),
            pending: BTreeMap::new(),
            next: 0,
            len,
            shared,
            workers,
        }
    }
}

impl<T> Prefetch<T> {
    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Items yielded so far.
    pub(crate) fn position(&self) -> usize {
        self.next
    }
}

impl<T> Iterator for Prefetch<T> {
    type Item = Result<T, WorkersStopped>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.len {
            return None;
        }
        let rx = self.rx.as_ref()?;
        let item = loop {
            if let Some(item) = self.pending.remove(&self.next) {
                break item;
            }
            match rx.recv() {
                Ok((job, item)) => {
                    self.pending.insert(job, item);
                }
                Err(_) => {
                    self.next = self.len;
                    return Some(Err(WorkersStopped));
                }
            }
        };
        self.next += 1;
        self.shared.gate().consumed = self.next;
        self.shared.wake.notify_all();
        Some(Ok(item))
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        // Under the lock, so a worker between its check and its wait cannot miss the wake-up.
        self.shared.gate().stop = true;
        self.shared.wake.notify_all();
        // A worker blocked in (or reaching) `send` now fails instead of waiting for room.
        drop(self.rx.take());
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                tracing::warn!("a data loader worker panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn items_come_out_in_order_whatever_the_timing() {
        let slow = |i: usize| {
            std::thread::sleep(Duration::from_micros(((i * 7919) % 13) as u64 * 200));
            i * i
        };
        for (workers, window) in [(1, 1), (3, 2), (4, 16)] {
            let items: Vec<_> = Prefetch::start(40, workers, window, slow)
                .map(Result::unwrap)
                .collect();
            assert_eq!(items, (0..40).map(|i| i * i).collect::<Vec<_>>());
        }
    }

    #[test]
    fn dropping_with_a_full_window_returns_promptly_and_joins_the_workers() {
        let produced = Arc::new(AtomicUsize::new(0));
        let token = Arc::new(());
        let (counter, held) = (produced.clone(), token.clone());
        let prefetch = Prefetch::start(1000, 3, 4, move |i| {
            let _ = &held;
            counter.fetch_add(1, Ordering::SeqCst);
            vec![i; 1024]
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while produced.load(Ordering::SeqCst) < 4 {
            assert!(
                Instant::now() < deadline,
                "the workers never filled the window"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Every worker is now waiting for the consumer.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(produced.load(Ordering::SeqCst), 4, "the window is 4 items");
        let start = Instant::now();
        drop(prefetch);
        let took = start.elapsed();
        assert!(took < Duration::from_millis(500), "drop took {took:?}");
        assert_eq!(
            Arc::strong_count(&token),
            1,
            "a worker still holds its producer"
        );
        assert_eq!(produced.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn dropping_after_a_partial_read_stops_the_rest() {
        let produced = Arc::new(AtomicUsize::new(0));
        let counter = produced.clone();
        let mut prefetch = Prefetch::start(1000, 2, 2, move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            i
        });
        assert_eq!(prefetch.next(), Some(Ok(0)));
        assert_eq!(prefetch.next(), Some(Ok(1)));
        assert_eq!(prefetch.position(), 2);
        drop(prefetch);
        assert!(
            produced.load(Ordering::SeqCst) <= 4,
            "at most the window beyond"
        );
    }

    /// The dropping thread waits for an item in production blocked, not spinning: its CPU
    /// time stays near zero while a worker takes 400 ms.
    #[cfg(target_os = "linux")]
    #[test]
    fn dropping_during_a_slow_item_waits_without_spinning() {
        let started = Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        let prefetch = Prefetch::start(10, 1, 1, move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(400));
            i
        });
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (start, cpu_before) = (Instant::now(), thread_cpu_ticks());
        drop(prefetch);
        let (took, cpu) = (start.elapsed(), thread_cpu_ticks() - cpu_before);
        assert!(took >= Duration::from_millis(200), "dropped after {took:?}");
        assert!(took < Duration::from_secs(5), "dropped after {took:?}");
        // Clock ticks are 10 ms: a spinning wait shows tens of them.
        assert!(cpu <= 3, "{cpu} ticks of CPU time while waiting {took:?}");
    }

    /// User plus system CPU time of the calling thread, in clock ticks.
    #[cfg(target_os = "linux")]
    fn thread_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}
