//! Policy networks that experiments can train: plain burn modules with a `forward` and a
//! recurrent memory, wrapped by the DSL's `#[policy]` where they are used ([`groot`] is
//! declared with it directly), and [`inference`], acting with any policy producing
//! `pi_logits`.

pub mod freeze;
pub mod groot;
pub mod inference;
pub mod pretrained;
pub mod timm;
pub mod torch_names;
pub mod transformer;
pub mod vpt;
