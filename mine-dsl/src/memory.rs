//! The [`Memory`] trait: state a policy carries from one batch to the next.

mod state;

use burn::tensor::kind::Basic;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

pub use state::{MemoryItem, MemoryState, MemoryStateError, TensorKind};

/// State carried across the batches of an episode (recurrent state, Transformer-XL K/V cache).
///
/// Every tensor in a memory has the batch dimension first. The trainer keeps one memory per
/// stream (train, validation), resets the rows whose episode starts anew, and detaches the
/// memory after every step (truncated backpropagation through time).
///
/// `()` is the memory of a stateless policy: it costs nothing. Tensors, `Vec`, `Option` and
/// tuples of memories are memories; `#[derive(Memory)]` implements it for a struct whose
/// fields are.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use mine_dsl::memory::Memory;
///
/// let device = Device::flex();
/// let carried = Tensor::<2>::ones([3, 2], &device);
/// let initial = Tensor::<2>::zeros([3, 2], &device);
/// // Row 1 starts a new episode: it goes back to the initial memory.
/// let memory = carried.reset_rows(&[false, true, false], &initial);
/// let rows: Vec<f32> = memory.into_data().try_into_vec::<f32>().unwrap();
/// assert_eq!(rows, [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be carried as policy memory",
    label = "not a `Memory`",
    note = "memories are tensors (batch dimension first), `()`, `Vec`/`Option`/tuples of memories, or structs with `#[derive(Memory)]`"
)]
pub trait Memory: Clone + Send + 'static {
    /// Returns this memory with the rows where `reset[b]` is true replaced by `initial`'s rows.
    fn reset_rows(self, reset: &[bool], initial: &Self) -> Self;

    /// Returns this memory cut from the autodiff graph.
    fn detach(self) -> Self;

    /// Appends this memory's tensors (and the lengths of its `Vec`s and `Option`s) to `state`,
    /// in a fixed order: what a checkpoint stores.
    fn save_state(&self, state: &mut MemoryState);

    /// Rebuilds a memory on `device` from the entries [`save_state`](Memory::save_state)
    /// wrote, reading them in the same order.
    fn load_state(state: &mut MemoryState, device: &Device) -> Result<Self, MemoryStateError>
    where
        Self: Sized;
}

impl Memory for () {
    fn reset_rows(self, _reset: &[bool], _initial: &Self) -> Self {}

    fn detach(self) -> Self {}

    fn save_state(&self, _state: &mut MemoryState) {}

    fn load_state(_state: &mut MemoryState, _device: &Device) -> Result<Self, MemoryStateError> {
        Ok(())
    }
}

/// Replaces the rows of `tensor` (batch dimension first) where `reset` is true by `initial`'s.
fn reset_tensor_rows<const D: usize, K: Basic>(
    tensor: Tensor<D, K>,
    reset: &[bool],
    initial: &Tensor<D, K>,
) -> Tensor<D, K> {
    if !reset.iter().any(|&r| r) {
        return tensor;
    }
    let mut mask_shape = [1usize; D];
    mask_shape[0] = reset.len();
    let mask = Tensor::<D, Bool>::from_data(
        TensorData::new(reset.to_vec(), mask_shape),
        &tensor.device(),
    )
    .expand(tensor.dims());
    tensor.mask_where(mask, initial.clone())
}

/// `Memory` for one tensor kind: `$detach` cuts it from the graph (a no-op for int and bool).
macro_rules! tensor_memory {
    ($tensor:ty, $kind:ident, |$t:ident| $detach:expr) => {
        impl<const D: usize> Memory for $tensor {
            fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
                reset_tensor_rows(self, reset, initial)
            }

            fn detach(self) -> Self {
                let $t = self;
                $detach
            }

            fn save_state(&self, state: &mut MemoryState) {
                state.push_tensor(self.to_data());
            }

            fn load_state(
                state: &mut MemoryState,
                device: &Device,
            ) -> Result<Self, MemoryStateError> {
                Ok(Self::from_data(
                    state.pop_tensor(D, TensorKind::$kind)?,
                    device,
                ))
            }
        }
    };
}

tensor_memory!(Tensor<D>, Float, |t| Tensor::detach(t));
tensor_memory!(Tensor<D, Bool>, Bool, |t| t);
tensor_memory!(Tensor<D, Int>, Int, |t| t);

impl<M: Memory> Memory for Vec<M> {
    fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
        self.into_iter()
            .zip(initial)
            .map(|(m, init)| m.reset_rows(reset, init))
            .collect()
    }

    fn detach(self) -> Self {
        self.into_iter().map(Memory::detach).collect()
    }
    fn save_state(&self, state: &mut MemoryState) {
        state.push_len(self.len());
        for item in self {
            item.save_state(state);
        }
    }

    fn load_state(state: &mut MemoryState, device: &Device) -> Result<Self, MemoryStateError> {
        let len = state.pop_len()?;
        (0..len).map(|_| M::load_state(state, device)).collect()
    }
}

impl<M: Memory> Memory for Option<M> {
    fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
        match (self, initial) {
            (Some(m), Some(init)) => Some(m.reset_rows(reset, init)),
            (_, init) => init.clone(),
        }
    }

    fn detach(self) -> Self {
        self.map(Memory::detach)
    }
    fn save_state(&self, state: &mut MemoryState) {
        state.push_len(usize::from(self.is_some()));
        if let Some(item) = self {
            item.save_state(state);
        }
    }

    fn load_state(state: &mut MemoryState, device: &Device) -> Result<Self, MemoryStateError> {
        match state.pop_len()? {
            0 => Ok(None),
            1 => M::load_state(state, device).map(Some),
            n => Err(MemoryStateError::Mismatch {
                expected: "0 or 1 (an `Option`)".into(),
                found: format!("a length of {n}"),
            }),
        }
    }
}

macro_rules! tuple_memory {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Memory),+> Memory for ($($name,)+) {
            fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
                ($(self.$idx.reset_rows(reset, &initial.$idx),)+)
            }

            fn detach(self) -> Self {
                ($(self.$idx.detach(),)+)
            }

            fn save_state(&self, state: &mut MemoryState) {
                $(self.$idx.save_state(state);)+
            }

            fn load_state(state: &mut MemoryState, device: &Device) -> Result<Self, MemoryStateError> {
                Ok(($($name::load_state(state, device)?,)+))
            }
        }
    };
}

tuple_memory!(A 0);
tuple_memory!(A 0, B 1);
tuple_memory!(A 0, B 1, C 2);
tuple_memory!(A 0, B 1, C 2, D 3);
