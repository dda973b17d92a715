//! The [`Memory`] trait: state a policy carries from one batch to the next.

use burn::tensor::kind::Basic;
use burn::tensor::{Bool, Int, Tensor, TensorData};

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

    /// Appends this memory's tensors to `out`, in a fixed order (for checkpoints).
    fn export(&self, out: &mut Vec<TensorData>);

    /// Rebuilds a memory from data written by [`Memory::export`], shaped and placed like `like`.
    fn import(
        like: &Self,
        data: &mut dyn Iterator<Item = TensorData>,
    ) -> Result<Self, MemoryImportError>;
}

/// Checkpointed memory data does not fit the memory it is restored into.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryImportError {
    /// Fewer tensors were saved than the memory holds.
    #[error(
        "the saved memory has fewer tensors than the policy's memory; the checkpoint belongs to another policy configuration"
    )]
    Missing,
    /// A saved tensor has another shape than the memory's.
    #[error(
        "a saved memory tensor has shape {saved:?}, the policy's memory {expected:?}; the checkpoint belongs to another policy configuration or batch size"
    )]
    Shape {
        /// Shape in the checkpoint.
        saved: Vec<usize>,
        /// Shape the memory has.
        expected: Vec<usize>,
    },
}

fn import_tensor<const D: usize, K: Basic>(
    like: &Tensor<D, K>,
    data: &mut dyn Iterator<Item = TensorData>,
) -> Result<Tensor<D, K>, MemoryImportError> {
    let saved = data.next().ok_or(MemoryImportError::Missing)?;
    let expected = like.dims().to_vec();
    if saved.shape().as_slice() != expected.as_slice() {
        return Err(MemoryImportError::Shape {
            saved: saved.shape().to_vec(),
            expected,
        });
    }
    Ok(Tensor::from_data(saved, &like.device()))
}

impl Memory for () {
    fn reset_rows(self, _reset: &[bool], _initial: &Self) -> Self {}

    fn detach(self) -> Self {}

    fn export(&self, _out: &mut Vec<TensorData>) {}

    fn import(
        _like: &Self,
        _data: &mut dyn Iterator<Item = TensorData>,
    ) -> Result<Self, MemoryImportError> {
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

impl<const D: usize> Memory for Tensor<D> {
    fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
        reset_tensor_rows(self, reset, initial)
    }

    fn detach(self) -> Self {
        Tensor::detach(self)
    }

    fn export(&self, out: &mut Vec<TensorData>) {
        out.push(self.to_data());
    }

    fn import(
        like: &Self,
        data: &mut dyn Iterator<Item = TensorData>,
    ) -> Result<Self, MemoryImportError> {
        import_tensor(like, data)
    }
}

impl<const D: usize> Memory for Tensor<D, Bool> {
    fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
        reset_tensor_rows(self, reset, initial)
    }

    fn detach(self) -> Self {
        self
    }

    fn export(&self, out: &mut Vec<TensorData>) {
        out.push(self.to_data());
    }

    fn import(
        like: &Self,
        data: &mut dyn Iterator<Item = TensorData>,
    ) -> Result<Self, MemoryImportError> {
        import_tensor(like, data)
    }
}

impl<const D: usize> Memory for Tensor<D, Int> {
    fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
        reset_tensor_rows(self, reset, initial)
    }

    fn detach(self) -> Self {
        self
    }

    fn export(&self, out: &mut Vec<TensorData>) {
        out.push(self.to_data());
    }

    fn import(
        like: &Self,
        data: &mut dyn Iterator<Item = TensorData>,
    ) -> Result<Self, MemoryImportError> {
        import_tensor(like, data)
    }
}

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

    fn export(&self, out: &mut Vec<TensorData>) {
        self.iter().for_each(|m| m.export(out));
    }

    fn import(
        like: &Self,
        data: &mut dyn Iterator<Item = TensorData>,
    ) -> Result<Self, MemoryImportError> {
        like.iter().map(|m| M::import(m, data)).collect()
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

    fn export(&self, out: &mut Vec<TensorData>) {
        if let Some(m) = self {
            m.export(out);
        }
    }

    fn import(
        like: &Self,
        data: &mut dyn Iterator<Item = TensorData>,
    ) -> Result<Self, MemoryImportError> {
        like.as_ref().map(|m| M::import(m, data)).transpose()
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

            fn export(&self, out: &mut Vec<TensorData>) {
                $(self.$idx.export(out);)+
            }

            fn import(like: &Self, data: &mut dyn Iterator<Item = TensorData>) -> Result<Self, MemoryImportError> {
                Ok(($($name::import(&like.$idx, data)?,)+))
            }
        }
    };
}

tuple_memory!(A 0);
tuple_memory!(A 0, B 1);
tuple_memory!(A 0, B 1, C 2);
tuple_memory!(A 0, B 1, C 2, D 3);
