//! Policy networks that experiments can train: plain burn modules with a `forward` and a
//! recurrent memory, wrapped by the DSL's `#[policy]` where they are used ([`groot`] and
//! [`rocket`] are declared with it directly), and [`inference`], acting with any policy
//! producing `pi_logits`.

pub mod freeze;
pub mod groot;
pub mod inference;
pub mod pretrained;
pub mod rocket;
pub mod timm;
pub mod torch_names;
pub mod torch_nn;
pub mod vpt;
