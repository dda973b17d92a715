//! The `colors` task: the whole frame has one colour, and each colour has its own action.

use mine_dsl::action::{EnvActionFrame, button_index};

use super::rng::SplitMix64;
use super::scene::SceneFrame;
use super::{far_turn, near_turn};

/// The six colours, in the order of [`action_of`]'s table.
pub const COLORS: [[u8; 3]; 6] = [
    [20, 20, 20],
    [220, 40, 40],
    [40, 180, 60],
    [50, 90, 220],
    [230, 210, 40],
    [200, 60, 200],
];

/// Fewest frames a colour stays.
pub const MIN_HOLD: i64 = 4;
/// Most frames a colour stays.
pub const MAX_HOLD: i64 = 12;

/// The action recorded while colour `index` is shown.
pub fn action_of(index: usize) -> EnvActionFrame {
    let mut a = EnvActionFrame::default();
    let mut press = |names: &[&str]| {
        for n in names {
            if let Some(i) = button_index(n) {
                a.buttons[i] = true;
            }
        }
    };
    match index {
        1 => press(&["attack"]),
        2 => press(&["forward", "sprint"]),
        4 => press(&["use"]),
        5 => press(&["left", "jump"]),
        _ => {}
    }
    match index {
        3 => a.camera = [0.0, far_turn()],
        4 => a.camera = [-near_turn(), 0.0],
        5 => a.camera = [0.0, -near_turn()],
        _ => {}
    }
    a
}

/// Simulates `frames` frames of one episode.
pub fn simulate(rng: &mut SplitMix64, frames: usize) -> Vec<SceneFrame> {
    let n = COLORS.len() as i64;
    let mut color = rng.range(0, n - 1) as usize;
    let mut hold = rng.range(MIN_HOLD, MAX_HOLD);
    let mut out = Vec::with_capacity(frames);
    for _ in 0..frames {
        if hold == 0 {
            color = (color + rng.range(1, n - 1) as usize) % COLORS.len();
            hold = rng.range(MIN_HOLD, MAX_HOLD);
        }
        hold -= 1;
        out.push(SceneFrame {
            background: COLORS[color],
            target: None,
            action: action_of(color),
        });
    }
    out
}
