//! PyTorch `nn` layers that burn's own differ from in names or maths, reproduced under
//! their state-dict names so that PyTorch checkpoints load unchanged:
//! [`BatchNorm2d`] (PyTorch's running statistics: unbiased variance, `num_batches_tracked`)
//! and [`TransformerEncoder`] (`nn.TransformerEncoder` of post-norm layers, with the stacked
//! `in_proj_weight` of `nn.MultiheadAttention`).

mod batch_norm;
pub mod transformer;

pub use batch_norm::BatchNorm2d;
pub use transformer::{
    EncoderShape, MultiheadAttention, TransformerEncoder, TransformerEncoderLayer,
    packed_self_attention,
};
