//! The `track` task: turn towards a square, walk into it and hit it; `hotbar.N` on background
//! changes.

use mine_dsl::action::{EnvActionFrame, button_index};

use super::rng::SplitMix64;
use super::scene::{SceneFrame, Target, TargetKind};
use super::{far_turn, near_turn};

/// Background colours; the index is also the hotbar slot selected when it appears.
pub const BACKGROUNDS: [[u8; 3]; 4] =
    [[40, 100, 50], [30, 50, 120], [100, 100, 100], [90, 40, 110]];
/// Frames spent walking into a centred square before it disappears.
pub const APPROACH_FRAMES: u32 = 4;
/// Horizontal offsets at or beyond this many cells are far: big turn plus strafe.
pub const FAR_CELLS: i32 = 3;
/// Largest horizontal spawn offset (cells).
pub const MAX_DX: i32 = 7;
/// Largest vertical spawn offset (cells).
pub const MAX_DY: i32 = 4;
/// On average one frame in this many changes the background.
pub const BACKGROUND_CHANGE_ONE_IN: u64 = 24;

fn press(action: &mut EnvActionFrame, name: &str) {
    if let Some(i) = button_index(name) {
        action.buttons[i] = true;
    }
}

fn spawn(rng: &mut SplitMix64) -> Target {
    Target {
        dx: rng.range(-i64::from(MAX_DX), i64::from(MAX_DX)) as i32,
        dy: rng.range(-i64::from(MAX_DY), i64::from(MAX_DY)) as i32,
        approach: 0,
        kind: if rng.one_in(2) {
            TargetKind::Red
        } else {
            TargetKind::Yellow
        },
    }
}

/// The action for a visible square, and where the square is after it.
fn act_on(t: Target) -> (EnvActionFrame, Option<Target>) {
    let mut action = EnvActionFrame::default();
    if t.dx == 0 && t.dy == 0 {
        press(&mut action, "forward");
        press(
            &mut action,
            match t.kind {
                TargetKind::Red => "attack",
                TargetKind::Yellow => "use",
            },
        );
        let next = Target {
            approach: t.approach + 1,
            ..t
        };
        return (action, (next.approach < APPROACH_FRAMES).then_some(next));
    }
    let (sx, sy) = (t.dx.signum(), t.dy.signum());
    let far = t.dx.abs() >= FAR_CELLS;
    action.camera[1] = match (sx, far) {
        (0, _) => 0.0,
        (_, true) => f64::from(sx) * far_turn(),
        (_, false) => f64::from(sx) * near_turn(),
    };
    action.camera[0] = f64::from(sy) * near_turn();
    if far {
        press(&mut action, if sx < 0 { "left" } else { "right" });
    }
    let step = if far { 2 } else { 1 };
    let next = Target {
        dx: t.dx - sx * step.min(t.dx.abs()),
        dy: t.dy - sy,
        ..t
    };
    (action, Some(next))
}

/// Simulates `frames` frames of one episode.
pub fn simulate(rng: &mut SplitMix64, frames: usize) -> Vec<SceneFrame> {
    let mut background = rng.range(0, BACKGROUNDS.len() as i64 - 1) as usize;
    let mut idle = rng.range(1, 3);
    let mut target: Option<Target> = None;
    let mut out = Vec::with_capacity(frames);
    for t in 0..frames {
        let changed = t > 0 && rng.one_in(BACKGROUND_CHANGE_ONE_IN);
        if changed {
            let shift = rng.range(1, BACKGROUNDS.len() as i64 - 1) as usize;
            background = (background + shift) % BACKGROUNDS.len();
        }
        let visible = target;
        let mut action = match visible {
            Some(v) => {
                let (action, next) = act_on(v);
                target = next;
                if next.is_none() {
                    idle = rng.range(2, 5);
                }
                action
            }
            None => {
                idle -= 1;
                if idle <= 0 {
                    target = Some(spawn(rng));
                }
                EnvActionFrame::default()
            }
        };
        if changed {
            press(&mut action, &format!("hotbar.{}", background + 1));
        }
        out.push(SceneFrame {
            background: BACKGROUNDS[background],
            target: visible,
            action,
        });
    }
    out
}
