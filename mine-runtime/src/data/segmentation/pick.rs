//! Which interaction the reader follows: MineStudio's backward walk over the frames read.
//!
//! `SegmentationKernelCallback.do_merge` walks the frames of the chunks read from the last to
//! the first, keeping a current interaction: a frame without annotations keeps it (and shows
//! nothing); a frame that lacks it picks a new one among its interactions, with Python's
//! `random.choice` (or, given `event_constrain`, the first whose event matches). So an
//! interaction is followed back to its first frame even where others overlap it.

use crate::data::pickle::PyValue;

use super::chunk::SegFrame;

/// How a new interaction is chosen on a frame that lacks the current one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// MineStudio's `random.choice`, made reproducible: the candidate is drawn from a hash of
    /// the seed, the episode and the frame, so every window that reads the frame makes the
    /// same choice (MineStudio draws from Python's unseeded global generator).
    Seeded(u64),
    /// The frame's first interaction in stored order.
    First,
    /// The frame's last interaction in stored order.
    Last,
    /// MineStudio's `event_constrain`: the first interaction whose key ends with this event
    /// (compared without its `minecraft.` prefixes); frames without one show nothing.
    Event(String),
}

impl Pick {
    /// The index of the interaction to follow from `frame` (episode frame `index`), if any.
    fn choose(&self, episode: &str, index: usize, frame: &SegFrame) -> Option<usize> {
        match self {
            Self::Seeded(seed) => {
                let h = mix(seed ^ mix(fnv1a(episode.as_bytes())) ^ mix(index as u64 ^ 0x5eed));
                Some((h % frame.len() as u64) as usize)
            }
            Self::First => Some(0),
            Self::Last => Some(frame.len() - 1),
            Self::Event(event) => frame
                .iter()
                .position(|i| key_event(&i.key).as_deref() == Some(event.as_str())),
        }
    }
}

/// The key's last element without `minecraft.` (what `event_constrain` is compared with).
fn key_event(key: &PyValue) -> Option<String> {
    match key {
        PyValue::Tuple(items) | PyValue::List(items) => items
            .last()
            .and_then(PyValue::as_str)
            .map(|s| s.replace("minecraft.", "")),
        _ => None,
    }
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// For every frame of `frames` (episode frames `first_frame..`), the index of the interaction
/// shown, or `None` (nothing shown).
pub fn select(
    frames: &[SegFrame],
    first_frame: usize,
    episode: &str,
    pick: &Pick,
) -> Vec<Option<usize>> {
    let mut out = vec![None; frames.len()];
    let mut current: Option<&PyValue> = None;
    for (wid, frame) in frames.iter().enumerate().rev() {
        if frame.is_empty() {
            continue;
        }
        let kept = current.and_then(|key| frame.iter().position(|i| &i.key == key));
        let chosen = kept.or_else(|| pick.choose(episode, first_frame + wid, frame));
        current = chosen.map(|i| &frame[i].key);
        out[wid] = chosen;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::segmentation::chunk::Interaction;

    fn inter(id: i64, event: &str) -> Interaction {
        Interaction {
            key: PyValue::Tuple(vec![PyValue::Int(id), PyValue::Str(event.into())]),
            obj_id: 2,
            rle_mask: String::new(),
            event: event.into(),
            point: None,
            frame_id: 0,
            frame_range: [0, 0],
        }
    }

    #[test]
    fn the_walk_follows_an_interaction_back_through_overlaps() {
        let (a, b) = (inter(0, "minecraft.a"), inter(1, "minecraft.b"));
        let frames = vec![
            vec![a.clone()],
            vec![a.clone(), b.clone()],
            vec![],
            vec![b.clone(), a.clone()],
        ];
        assert_eq!(
            select(&frames, 0, "e", &Pick::First),
            vec![Some(0), Some(1), None, Some(0)]
        );
        assert_eq!(
            select(&frames, 0, "e", &Pick::Last),
            vec![Some(0), Some(0), None, Some(1)]
        );
        assert_eq!(
            select(&frames, 0, "e", &Pick::Event("b".into())),
            vec![None, Some(1), None, Some(0)]
        );
        let seeded = select(&frames, 0, "e", &Pick::Seeded(3));
        assert_eq!(seeded, select(&frames, 0, "e", &Pick::Seeded(3)));
        assert_eq!(seeded[2], None);
    }
}
