//! Environment actions to VPT agent actions (`ActionTransformer.env2policy` followed by
//! `CameraHierarchicalMapping(11).from_factored`).

use super::action::{ENV_BUTTONS, EnvAction};
use super::sample::AgentAction;

const CAMERA_MAXVAL: f64 = 10.0;
const CAMERA_BINSIZE: f64 = 2.0;
const CAMERA_MU: f64 = 10.0;
const CAMERA_BINS: i64 = 11;
const CAMERA_NULL_BIN: i64 = CAMERA_BINS / 2;
/// Index of the `"inventory"` joint button action (the last of 8641).
const INVENTORY_CLASS: i64 = 8640;

fn button(a: &EnvAction, name: &str) -> i64 {
    a.button(name).unwrap_or(0)
}

/// Mu-law camera quantiser: degrees to one of 11 bins (round half to even, like numpy).
fn camera_bin(degrees: f64) -> i64 {
    let x = degrees.clamp(-CAMERA_MAXVAL, CAMERA_MAXVAL) / CAMERA_MAXVAL;
    let encoded = x.signum() * ((1.0 + CAMERA_MU * x.abs()).ln() / (1.0 + CAMERA_MU).ln());
    let encoded = if x == 0.0 { 0.0 } else { encoded } * CAMERA_MAXVAL;
    ((encoded + CAMERA_MAXVAL) / CAMERA_BINSIZE).round_ties_even() as i64
}

/// Which option of a mutually exclusive group was chosen (0 = none); the last pressed wins,
/// and pressing both of forward/back or left/right counts as neither.
fn group_choice(a: &EnvAction, group: &[&str]) -> i64 {
    let pressed: Vec<bool> = group.iter().map(|b| button(a, b) != 0).collect();
    let cancel = group.len() == 2
        && matches!(group, ["forward", "back"] | ["left", "right"])
        && pressed.iter().all(|&p| p);
    if cancel {
        return 0;
    }
    pressed.iter().rposition(|&p| p).map_or(0, |i| i as i64 + 1)
}

/// Maps one environment action to its agent action.
pub fn env_to_agent(a: &EnvAction) -> AgentAction {
    let cam = [camera_bin(a.camera[0]), camera_bin(a.camera[1])];
    if button(a, "inventory") == 1 {
        return AgentAction {
            buttons: INVENTORY_CLASS,
            camera: CAMERA_NULL_BIN * CAMERA_BINS + CAMERA_NULL_BIN,
        };
    }
    let hotbar: Vec<&str> = ENV_BUTTONS[11..].to_vec();
    let groups: [(&[&str], i64); 8] = [
        (&hotbar, 10),
        (&["forward", "back"], 3),
        (&["left", "right"], 3),
        (&["sprint", "sneak"], 3),
        (&["use"], 2),
        (&["drop"], 2),
        (&["attack"], 2),
        (&["jump"], 2),
    ];
    let mut index = 0;
    for (group, size) in groups {
        index = index * size + group_choice(a, group);
    }
    let camera_moved = cam != [CAMERA_NULL_BIN, CAMERA_NULL_BIN];
    index = index * 2 + camera_moved as i64;
    AgentAction {
        buttons: index,
        camera: cam[0] * CAMERA_BINS + cam[1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(pressed: &[&str], camera: [f64; 2]) -> EnvAction {
        let mut a = EnvAction {
            camera,
            ..EnvAction::default()
        };
        for p in pressed {
            let i = ENV_BUTTONS.iter().position(|b| b == p).unwrap();
            a.buttons[i] = 1;
        }
        a
    }

    #[test]
    fn null_action_is_class_zero_and_camera_sixty() {
        let a = env_to_agent(&EnvAction::default());
        assert_eq!((a.buttons, a.camera), (0, 60));
    }

    #[test]
    fn combined_buttons_and_camera() {
        let a = action(&["forward", "left", "jump", "attack", "use"], [-0.45, 0.75]);
        assert_eq!(
            env_to_agent(&a),
            AgentAction {
                buttons: 407,
                camera: 50
            }
        );
    }

    #[test]
    fn inventory_overrides_everything() {
        let a = action(&["inventory", "forward"], [5.0, 5.0]);
        assert_eq!(
            env_to_agent(&a),
            AgentAction {
                buttons: 8640,
                camera: 60
            }
        );
    }

    #[test]
    fn camera_clips_and_rounds_half_to_even() {
        assert_eq!(camera_bin(37.5), 10);
        assert_eq!(camera_bin(-37.5), 0);
        assert_eq!(camera_bin(0.0), 5);
    }
}
