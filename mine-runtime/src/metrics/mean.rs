//! Running means of metrics over a logging window or a validation pass.

use std::collections::BTreeMap;

/// Sums values by name and reports their means.
#[derive(Debug, Clone, Default)]
pub struct MeanWindow {
    sums: BTreeMap<String, (f64, usize)>,
}

impl MeanWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one observation of `name`.
    pub fn add(&mut self, name: &str, value: f64) {
        match self.sums.get_mut(name) {
            Some((sum, count)) => {
                *sum += value;
                *count += 1;
            }
            None => {
                self.sums.insert(name.to_owned(), (value, 1));
            }
        }
    }

    /// Whether nothing was added since the last [`take`](Self::take).
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// The mean of each name, and empties the window.
    ///
    /// ```
    /// let mut window = mine_runtime::metrics::MeanWindow::new();
    /// window.add("loss", 1.0);
    /// window.add("loss", 3.0);
    /// assert_eq!(window.take()["loss"], 2.0);
    /// assert!(window.is_empty());
    /// ```
    pub fn take(&mut self) -> BTreeMap<String, f64> {
        std::mem::take(&mut self.sums)
            .into_iter()
            .map(|(name, (sum, count))| (name, sum / count as f64))
            .collect()
    }
}
