//! What one synthetic frame shows and the action recorded with it, and how it is drawn.

use mine_dsl::action::EnvActionFrame;

/// Grid cells per frame width (horizontal target offsets are in these units).
pub const GRID_X: i32 = 20;
/// Grid cells per frame height (vertical target offsets are in these units).
pub const GRID_Y: i32 = 20;

/// What kind of block the target is; it decides the button used on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A red square: hit it with `attack`.
    Red,
    /// A yellow square: interact with `use`.
    Yellow,
}

impl TargetKind {
    /// The square's colour.
    pub fn color(self) -> [u8; 3] {
        match self {
            Self::Red => [230, 30, 30],
            Self::Yellow => [240, 220, 40],
        }
    }
}

/// The square of the [`super::SyntheticTask::Track`] task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Horizontal offset of the centre from the frame's centre, in `width / GRID_X` cells
    /// (negative: left).
    pub dx: i32,
    /// Vertical offset of the centre, in `height / GRID_Y` cells (negative: up).
    pub dy: i32,
    /// Frames already spent walking into it (the square grows with each).
    pub approach: u32,
    /// Its colour and button.
    pub kind: TargetKind,
}

impl Target {
    /// The square's pixel rectangle `(x0, y0, x1, y1)` (exclusive ends), clipped to the frame.
    pub fn rect(&self, width: usize, height: usize) -> (usize, usize, usize, usize) {
        let (w, h) = (width as i64, height as i64);
        let side = w.min(h) / 4 + i64::from(self.approach) * (w.min(h) / 32);
        let cx = w / 2 + (i64::from(self.dx) * w) / i64::from(GRID_X);
        let cy = h / 2 + (i64::from(self.dy) * h) / i64::from(GRID_Y);
        let clip = |v: i64, max: i64| v.clamp(0, max) as usize;
        (
            clip(cx - side / 2, w),
            clip(cy - side / 2, h),
            clip(cx - side / 2 + side, w),
            clip(cy - side / 2 + side, h),
        )
    }
}

/// One frame of an episode: what is visible and the action recorded for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SceneFrame {
    /// The flat background colour.
    pub background: [u8; 3],
    /// The square, when one is visible.
    pub target: Option<Target>,
    /// The recorded env action (camera in degrees, `[pitch, yaw]`).
    pub action: EnvActionFrame,
}

impl SceneFrame {
    /// Draws the frame as RGB24 (`height * width * 3` bytes).
    pub fn render(&self, width: usize, height: usize) -> Vec<u8> {
        let mut rgb: Vec<u8> = self
            .background
            .iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect();
        if let Some(t) = &self.target {
            let (x0, y0, x1, y1) = t.rect(width, height);
            let color = t.kind.color();
            for row in y0..y1 {
                for px in rgb[(row * width + x0) * 3..(row * width + x1) * 3].chunks_exact_mut(3) {
                    px.copy_from_slice(&color);
                }
            }
        }
        rgb
    }
}
