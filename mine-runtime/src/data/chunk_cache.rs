//! Decoded image chunks shared by the loader's workers, so that a chunk is decoded once for all
//! the windows that read it.
//!
//! With MineStudio's defaults (chunks of 32 frames, windows of 16) every chunk serves two
//! windows, which the episode-continuous sampler puts in consecutive batches: two workers
//! usually want the same chunk at about the same time. An entry is claimed before its chunk is
//! decoded, and a worker that asks for a chunk another worker is decoding waits for it instead
//! of decoding it again. The cache keeps the most recently claimed chunks (first in, first out)
//! up to a bound of about two batches' worth, a few tens of megabytes at 128x128.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use super::error::{DataError, DataResult, Location};

/// A chunk's frames, decoded and resized (shared, read-only).
pub type Frames = Arc<Vec<Arc<[u8]>>>;

/// A claimed entry: filled once by the worker that claimed it (`None` if decoding failed).
type Slot = Arc<OnceLock<Option<Frames>>>;

/// Decoded chunks by location (see the module documentation).
#[derive(Debug)]
pub struct ChunkCache {
    capacity: usize,
    entries: Mutex<(HashMap<Location, Slot>, VecDeque<Location>)>,
}

impl ChunkCache {
    /// A cache holding up to `capacity` chunks (0: no caching).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// The chunk at `at`: cached, or decoded by `decode` (by this thread, or by another that
    /// claimed it first, waited for). A decoding error is returned to the thread that decoded
    /// and never cached.
    pub fn get_or_decode(
        &self,
        at: &Location,
        decode: impl FnOnce() -> DataResult<Vec<Arc<[u8]>>>,
    ) -> DataResult<Frames> {
        if self.capacity == 0 {
            return decode().map(Arc::new);
        }
        let slot = self.claim(at);
        let mut failure = None;
        let value = slot.get_or_init(|| match decode() {
            Ok(frames) => Some(Arc::new(frames)),
            Err(e) => {
                failure = Some(e);
                None
            }
        });
        match (value, failure) {
            (Some(frames), _) => Ok(frames.clone()),
            (None, Some(e)) => {
                self.forget(at);
                Err(e)
            }
            // Another worker's decoding of this chunk failed (and that worker reports why).
            (None, None) => Err(self.failed_elsewhere(at)),
        }
    }

    /// The slot of `at`, inserted (and the oldest beyond the capacity evicted) if new.
    fn claim(&self, at: &Location) -> Slot {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if let Some(slot) = map.get(at) {
            return slot.clone();
        }
        let slot = Slot::default();
        map.insert(at.clone(), slot.clone());
        order.push_back(at.clone());
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
        slot
    }

    fn forget(&self, at: &Location) {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        map.remove(at);
        order.retain(|l| l != at);
    }

    /// The error for a chunk another worker failed to decode (forgotten, so that a later
    /// epoch decodes it again).
    fn failed_elsewhere(&self, at: &Location) -> DataError {
        self.forget(at);
        DataError::Video {
            at: at.clone(),
            message: "decoding failed in another loader worker (see its error)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn at(chunk: usize) -> Location {
        Location::default().with_chunk(&format!("(0, {chunk})"))
    }

    #[test]
    fn each_chunk_is_decoded_once_by_concurrent_readers_and_the_oldest_evicted() {
        let cache = ChunkCache::new(2);
        let decodes = AtomicUsize::new(0);
        let decode = |v: u8| {
            decodes.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(vec![Arc::from(vec![v; 4])])
        };
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let frames = cache.get_or_decode(&at(0), || decode(7)).unwrap();
                    assert_eq!(&*frames[0], &[7; 4]);
                });
            }
        });
        assert_eq!(
            decodes.load(Ordering::SeqCst),
            1,
            "one decode for four readers"
        );
        cache.get_or_decode(&at(32), || decode(1)).unwrap();
        cache.get_or_decode(&at(64), || decode(2)).unwrap();
        assert_eq!(decodes.load(Ordering::SeqCst), 3);
        // Chunk 0 was evicted (capacity 2): decoded again.
        cache.get_or_decode(&at(0), || decode(7)).unwrap();
        assert_eq!(decodes.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn errors_are_returned_and_not_cached() {
        let cache = ChunkCache::new(4);
        let failing = || {
            Err(DataError::Video {
                at: at(0),
                message: "corrupt".into(),
            })
        };
        let err = cache.get_or_decode(&at(0), failing).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        let frames = cache
            .get_or_decode(&at(0), || Ok(vec![Arc::from(vec![1u8])]))
            .unwrap();
        assert_eq!(&*frames[0], &[1]);
    }
}
