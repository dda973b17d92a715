//! Why pretrained weights could not be used.

use std::path::PathBuf;

use thiserror::Error;

/// Pretrained weights could not be found, read, or fitted to the policy.
#[derive(Debug, Error)]
pub enum PretrainedError {
    /// The path does not exist.
    #[error("policy.weights: {path} does not exist")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path exists but is not a checkpoint in any format this program reads.
    #[error("policy.weights: {path} is not a checkpoint this program reads: {reason}")]
    Unrecognized {
        /// The path given.
        path: PathBuf,
        /// What it is, and what was expected.
        reason: String,
    },
    /// A file the format needs beside the one given is missing.
    #[error("policy.weights: {given} needs {missing} beside it ({why}), which does not exist")]
    MissingCompanion {
        /// The path given.
        given: PathBuf,
        /// The file looked for.
        missing: PathBuf,
        /// What that file holds.
        why: &'static str,
    },
    /// A file could not be read.
    #[error("policy.weights: cannot read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The checkpoint holds another kind of policy.
    #[error(
        "policy.weights: {path} holds a `{found}` policy, not a `{expected}` one: set \
         `policy.kind` to the checkpoint's policy, or point `policy.weights` at a `{expected}` \
         checkpoint"
    )]
    WrongPolicy {
        /// The file that says so.
        path: PathBuf,
        /// What the checkpoint holds.
        found: String,
        /// What the configuration asks for.
        expected: &'static str,
    },
    /// The checkpoint's network configuration cannot be used.
    #[error("policy.weights: the network configuration in {path} is not usable: {message}")]
    Config {
        /// The file holding the configuration.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A `[policy]` setting contradicts the checkpoint's configuration.
    #[error(
        "policy.{key} = {configured} contradicts the checkpoint's {key} = {checkpoint} ({path}); \
         the network's shape comes from the checkpoint: remove `policy.{key}` from the config \
         (or set it to {checkpoint})"
    )]
    Conflict {
        /// The setting.
        key: String,
        /// Its value in the configuration.
        configured: String,
        /// Its value in the checkpoint.
        checkpoint: String,
        /// The file holding the checkpoint's configuration.
        path: PathBuf,
    },
    /// The `[policy]` settings do not describe a network.
    #[error("[policy]: {0}")]
    Settings(String),
    /// The tensors do not fit the network.
    #[error("policy.weights: {0}")]
    Tensors(String),
    /// The format is recognised, but this policy cannot be loaded from it (yet).
    #[error("policy.weights: {path}: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported and what to do instead.
        message: String,
    },
}
