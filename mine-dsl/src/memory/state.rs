//! A memory flattened to host data, for checkpoints: [`MemoryState`].

use std::collections::VecDeque;

use burn::tensor::{DType, TensorData};

/// One entry of a flattened memory.
#[derive(Clone, Debug, PartialEq)]
pub enum MemoryItem {
    /// A tensor's values, shape and element type.
    Tensor(TensorData),
    /// The length of a `Vec` (or `0`/`1` for an `Option`) whose items follow.
    Len(usize),
}

/// The kind of tensor a memory slot holds, checked when a state is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// Floating-point values.
    Float,
    /// Integers.
    Int,
    /// Booleans.
    Bool,
}

impl TensorKind {
    fn of(dtype: DType) -> Self {
        if dtype.is_float() {
            TensorKind::Float
        } else if dtype.is_bool() {
            TensorKind::Bool
        } else {
            TensorKind::Int
        }
    }
}

/// A memory read out to host data by [`Memory::save_state`](super::Memory::save_state), in
/// the fixed order the memory's type defines; [`Memory::load_state`](super::Memory::load_state)
/// reads it back in the same order.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use mine_dsl::memory::{Memory, MemoryState};
///
/// let device = Device::flex();
/// let memory = (Tensor::<2>::ones([2, 3], &device), vec![Tensor::<1>::zeros([2], &device)]);
/// let mut state = MemoryState::new();
/// memory.save_state(&mut state);
/// assert_eq!(state.len(), 3); // a tensor, a Vec length, a tensor
/// let back = <(Tensor<2>, Vec<Tensor<1>>)>::load_state(&mut state, &device).unwrap();
/// assert_eq!(back.0.dims(), [2, 3]);
/// assert!(state.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryState {
    items: VecDeque<MemoryItem>,
}

/// A memory state does not fit the memory type it is loaded into.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryStateError {
    /// The state ended before the memory was complete.
    #[error(
        "the saved memory ends early: expected {expected}; was it saved by another policy or memory type?"
    )]
    Truncated {
        /// What the memory type needed next.
        expected: String,
    },
    /// The next entry is not what the memory type needs.
    #[error(
        "the saved memory does not match the memory type: expected {expected}, found {found}; \
         was it saved by another policy or memory type?"
    )]
    Mismatch {
        /// What the memory type needed.
        expected: String,
        /// What the state held.
        found: String,
    },
    /// Entries are left after the memory was rebuilt.
    #[error(
        "the saved memory has {left} entries more than the memory type reads; was it saved by another policy?"
    )]
    Trailing {
        /// Number of unread entries.
        left: usize,
    },
}

impl MemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// A state holding these entries (as read back from a file).
    pub fn from_items(items: Vec<MemoryItem>) -> Self {
        Self {
            items: items.into(),
        }
    }

    /// The entries, in order.
    pub fn into_items(self) -> Vec<MemoryItem> {
        self.items.into()
    }

    /// Number of entries not yet read.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether every entry has been read.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends a tensor's data.
    pub fn push_tensor(&mut self, data: TensorData) {
        self.items.push_back(MemoryItem::Tensor(data));
    }

    /// Appends a length.
    pub fn push_len(&mut self, len: usize) {
        self.items.push_back(MemoryItem::Len(len));
    }

    /// Reads the next entry as a tensor of `rank` dimensions and kind `kind`.
    pub fn pop_tensor(
        &mut self,
        rank: usize,
        kind: TensorKind,
    ) -> Result<TensorData, MemoryStateError> {
        let expected = || format!("a {kind:?} tensor of rank {rank}");
        match self.items.pop_front() {
            None => Err(MemoryStateError::Truncated {
                expected: expected(),
            }),
            Some(MemoryItem::Tensor(data))
                if data.shape().num_dims() == rank && TensorKind::of(data.dtype()) == kind =>
            {
                Ok(data)
            }
            Some(MemoryItem::Tensor(data)) => Err(MemoryStateError::Mismatch {
                expected: expected(),
                found: format!(
                    "a {:?} tensor of shape {:?}",
                    TensorKind::of(data.dtype()),
                    data.shape().to_vec()
                ),
            }),
            Some(MemoryItem::Len(len)) => Err(MemoryStateError::Mismatch {
                expected: expected(),
                found: format!("a length ({len})"),
            }),
        }
    }

    /// Reads the next entry as a length.
    pub fn pop_len(&mut self) -> Result<usize, MemoryStateError> {
        match self.items.pop_front() {
            None => Err(MemoryStateError::Truncated {
                expected: "a length".into(),
            }),
            Some(MemoryItem::Len(len)) => Ok(len),
            Some(MemoryItem::Tensor(data)) => Err(MemoryStateError::Mismatch {
                expected: "a length".into(),
                found: format!("a tensor of {} dimensions", data.shape().num_dims()),
            }),
        }
    }

    /// Fails unless every entry was read.
    pub fn finish(&self) -> Result<(), MemoryStateError> {
        match self.items.len() {
            0 => Ok(()),
            left => Err(MemoryStateError::Trailing { left }),
        }
    }
}
