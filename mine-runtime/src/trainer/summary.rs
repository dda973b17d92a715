//! The one line a run ends with.

use std::collections::BTreeMap;
use std::fmt;

use super::TrainSummary;

/// `steps, wall time, frames/s, final losses`, e.g.
/// `100 steps in 180.2s (1.80s/step, 17.8 frames/s); train loss 95.1 (behavior_clone 95.1); val loss 97.3`.
impl fmt::Display for TrainSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} steps", self.steps)?;
        if self.steps_this_run != self.steps {
            write!(f, " ({} this run)", self.steps_this_run)?;
        }
        write!(
            f,
            " in {:.1}s ({:.2}s/step, {:.1} frames/s); train",
            self.wall_time.as_secs_f64(),
            self.step_time.as_secs_f64(),
            self.frames_per_sec
        )?;
        losses(f, &self.final_train)?;
        if let Some(val) = &self.final_val {
            write!(f, "; val")?;
            losses(f, val)?;
        }
        if self.interrupted {
            write!(f, "; interrupted (resume to continue)")?;
        }
        Ok(())
    }
}

/// ` loss X (other Y, ...)` with the total first.
fn losses(f: &mut fmt::Formatter<'_>, metrics: &BTreeMap<String, f64>) -> fmt::Result {
    match metrics.get("loss") {
        Some(loss) => write!(f, " loss {}", short(*loss))?,
        None => write!(f, " loss -")?,
    }
    let rest: Vec<String> = metrics
        .iter()
        .filter(|(key, _)| key.as_str() != "loss")
        .map(|(key, value)| format!("{key} {}", short(*value)))
        .collect();
    if !rest.is_empty() {
        write!(f, " ({})", rest.join(", "))?;
    }
    Ok(())
}

/// Four significant digits.
fn short(value: f64) -> String {
    if value != 0.0 && (value.abs() >= 1e5 || value.abs() < 1e-3) {
        format!("{value:.3e}")
    } else {
        format!("{:.4}", value)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_line_names_steps_time_throughput_and_every_loss() {
        let summary = TrainSummary {
            steps: 100,
            steps_this_run: 40,
            epochs: 1,
            batches: 40,
            frames: 1280,
            wall_time: Duration::from_secs_f64(72.04),
            step_time: Duration::from_secs_f64(1.8),
            batches_per_sec: 0.55,
            frames_per_sec: 17.77,
            final_train: BTreeMap::from([
                ("loss".to_owned(), 95.125),
                ("behavior_clone".to_owned(), 95.125),
            ]),
            final_val: Some(BTreeMap::from([("loss".to_owned(), 1.0e-4)])),
            last_checkpoint: None,
            interrupted: false,
            host_reads: Default::default(),
            kernel_tuning: Vec::new(),
        };
        assert_eq!(
            summary.to_string(),
            "100 steps (40 this run) in 72.0s (1.80s/step, 17.8 frames/s); \
             train loss 95.125 (behavior_clone 95.125); val loss 1.000e-4"
        );
        let interrupted = TrainSummary {
            interrupted: true,
            final_val: None,
            ..summary
        };
        assert!(
            interrupted.to_string().ends_with(
                "train loss 95.125 (behavior_clone 95.125); interrupted (resume to continue)"
            ),
            "{interrupted}"
        );
    }
}
