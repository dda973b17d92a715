//! Window geometry: which stored frames a sample reads and how it is padded.

/// The frames one modality reads for one item (MineStudio's `ModalKernel.read_frames`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Frames of padding before the first real frame.
    pub pad_left: usize,
    /// First stored frame read (inclusive).
    pub first: usize,
    /// Last stored frame read (inclusive); `None` when nothing is read.
    pub last: Option<usize>,
    /// Frames taken from `first..=last`, every `skip_frame`-th.
    pub skip_frame: usize,
    /// Total frames after padding (`win_len + win_bias`).
    pub len: usize,
}

impl Window {
    /// Computes the window for an item starting at `start` in an episode of `num_frames`.
    pub fn new(
        start: usize,
        win_len: usize,
        skip_frame: usize,
        read_bias: i64,
        win_bias: i64,
        num_frames: usize,
    ) -> Self {
        let s = start as i64 + read_bias;
        let n = (win_len as i64 + win_bias).max(0);
        let skip = skip_frame.max(1) as i64;
        let end = (s + n * skip - 1).min(num_frames as i64 - 1);
        let pad_left = (-s).max(0) as usize;
        let first = s.max(0);
        let last = (end >= first).then_some(end as usize);
        Self {
            pad_left: pad_left.min(n as usize),
            first: first as usize,
            last,
            skip_frame: skip as usize,
            len: n as usize,
        }
    }

    /// Stored frame indices read, in order.
    pub fn frames(&self) -> Vec<usize> {
        match self.last {
            Some(last) => (self.first..=last).step_by(self.skip_frame).collect(),
            None => Vec::new(),
        }
    }

    /// Real frames followed by padding, as positions: `Some(frame)` or `None` for padding;
    /// never longer than `len`.
    pub fn layout(&self) -> Vec<Option<usize>> {
        let mut out: Vec<Option<usize>> = vec![None; self.pad_left];
        out.extend(self.frames().into_iter().map(Some));
        out.truncate(self.len);
        out.resize(self.len, None);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_window_reads_its_frames() {
        let w = Window::new(32, 32, 1, 0, 0, 64);
        assert_eq!(w.layout(), (32..64).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn last_window_is_right_padded() {
        let w = Window::new(20, 20, 1, 0, 0, 32);
        let l = w.layout();
        assert_eq!(l.len(), 20);
        assert_eq!(l[11], Some(31));
        assert_eq!(l[12], None);
    }

    #[test]
    fn read_bias_pads_left_at_episode_start() {
        let w = Window::new(0, 32, 1, -1, 1, 64);
        let l = w.layout();
        assert_eq!(l.len(), 33);
        assert_eq!(l[0], None);
        assert_eq!(l[1], Some(0));
        assert_eq!(l[32], Some(31));
    }

    #[test]
    fn skip_frame_takes_every_nth() {
        let w = Window::new(0, 4, 2, 0, 0, 100);
        assert_eq!(w.layout(), vec![Some(0), Some(2), Some(4), Some(6)]);
    }

    #[test]
    fn window_past_the_end_is_all_padding() {
        let w = Window::new(64, 8, 1, 0, 0, 64);
        assert_eq!(w.layout(), vec![None; 8]);
    }
}
