//! The `recall` task: a coloured cue flashes, then a grey screen for many frames, and the agent
//! keeps doing what the cue asked for. Only memory of the cue tells what to do on grey frames.

use mine_dsl::action::{EnvActionFrame, button_index};

use super::near_turn;
use super::rng::SplitMix64;
use super::scene::SceneFrame;

/// The cue colours, in the order of [`action_of`]'s table.
pub const CUES: [[u8; 3]; 4] = [[220, 40, 40], [40, 180, 60], [50, 90, 220], [230, 210, 40]];
/// What the screen shows between cues.
pub const GREY: [u8; 3] = [110, 110, 110];
/// Frames a cue stays on screen.
pub const CUE_FRAMES: usize = 2;
/// Fewest grey frames after a cue.
pub const MIN_DELAY: i64 = 12;
/// Most grey frames after a cue: the last one is at most `CUE_FRAMES + MAX_DELAY - 1` = 25
/// frames after the cue's first frame, within reach of a 32-frame carried attention memory.
pub const MAX_DELAY: i64 = 24;

/// The action recorded from the moment cue `index` appears until the next cue.
pub fn action_of(index: usize) -> EnvActionFrame {
    let mut a = EnvActionFrame::default();
    let names: &[&str] = match index {
        0 => &["attack"],
        1 => &["forward"],
        2 => &["use"],
        _ => &["jump"],
    };
    for n in names {
        if let Some(i) = button_index(n) {
            a.buttons[i] = true;
        }
    }
    if index == 3 {
        a.camera = [0.0, near_turn()];
    }
    a
}

/// Simulates `frames` frames of one episode: back-to-back trials of a cue (`CUE_FRAMES`
/// frames of a random colour of [`CUES`]) then `MIN_DELAY..=MAX_DELAY` grey frames. The first
/// trial starts at the episode's first frame.
pub fn simulate(rng: &mut SplitMix64, frames: usize) -> Vec<SceneFrame> {
    let mut out = Vec::with_capacity(frames);
    while out.len() < frames {
        let cue = rng.range(0, CUES.len() as i64 - 1) as usize;
        let delay = rng.range(MIN_DELAY, MAX_DELAY) as usize;
        let action = action_of(cue);
        let trial = (0..CUE_FRAMES + delay).map(|k| SceneFrame {
            background: if k < CUE_FRAMES { CUES[cue] } else { GREY },
            target: None,
            action,
        });
        out.extend(trial.take(frames - out.len()));
    }
    out
}

/// For each frame of the window `start..start + len` of an episode, whether its action can be
/// told from that window's frames alone (its cue is among them); the other frames need the
/// memory carried from earlier batches.
pub fn cue_in_window(scenes: &[SceneFrame], start: usize, len: usize) -> Vec<bool> {
    let mut out = Vec::with_capacity(len);
    let mut seen = false;
    for scene in scenes.iter().skip(start).take(len) {
        seen |= scene.background != GREY;
        out.push(seen);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_frames_repeat_the_last_cue_action() {
        let mut rng = SplitMix64::for_episode(0, 0);
        let scenes = simulate(&mut rng, 500);
        assert_eq!(scenes.len(), 500);
        assert_ne!(scenes[0].background, GREY);
        let mut last_cue = None;
        let mut grey_run = 0;
        for s in &scenes {
            if s.background == GREY {
                grey_run += 1;
                assert!(grey_run <= MAX_DELAY as usize);
            } else {
                last_cue = CUES.iter().position(|c| *c == s.background);
                grey_run = 0;
            }
            assert_eq!(s.action, action_of(last_cue.unwrap()));
        }
        // Cues differ in their actions.
        for i in 0..CUES.len() {
            for j in 0..i {
                assert_ne!(action_of(i), action_of(j));
            }
        }
    }

    #[test]
    fn a_window_that_starts_on_grey_needs_memory() {
        let mut rng = SplitMix64::for_episode(3, 1);
        let scenes = simulate(&mut rng, 64);
        assert!(cue_in_window(&scenes, 0, 16)[0]);
        let grey = (1..64).find(|&i| scenes[i].background == GREY).unwrap();
        assert!(!cue_in_window(&scenes, grey, 4)[0]);
    }
}
