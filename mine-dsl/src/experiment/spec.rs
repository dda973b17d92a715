//! An objective as a configuration file names it.

/// One objective in an experiment config: its registered name and its hyperparameters.
///
/// In TOML:
///
/// ```
/// # use mine_dsl::experiment::ObjectiveSpec;
/// #[derive(serde::Deserialize)]
/// struct Config { objectives: Vec<ObjectiveSpec> }
///
/// let config: Config = toml::from_str(r#"
///     [[objectives]]
///     name = "behavior_clone"
///     weight = 1.0
///
///     [[objectives]]
///     name = "kl_divergence"
///     weight = 0.01
/// "#).unwrap();
/// assert_eq!(config.objectives[1].name, "kl_divergence");
/// assert_eq!(config.objectives[1].params["weight"], 0.01);
/// ```
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ObjectiveSpec {
    /// The objective's registered name (its function's name).
    pub name: String,
    /// Its hyperparameters, checked against its config struct when the experiment is built.
    #[serde(flatten)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl ObjectiveSpec {
    /// A spec with no hyperparameters (the objective's defaults apply).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            params: serde_json::Map::new(),
        }
    }

    /// Sets one hyperparameter.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }
}
