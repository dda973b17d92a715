//! How the code `#[objective]` generates hands each parameter its value.
//!
//! The value goes through one of these traits, with the parameter's type left to inference
//! (`<_ as LatentParam<'_, vpred, _>>::pass(value)`): a parameter of another type fails the
//! trait at the parameter, with a message naming the latent or field and the type to write,
//! instead of a bare type mismatch at the call of the function. The marker types `F` and `N`
//! are named after the field or the parameter, for the message.

use super::ObjectiveError;

/// A `#[latent] name: &V` parameter, where `name` is the key `K`.
#[diagnostic::on_unimplemented(
    message = "latent `{K}` is a `{V}`: write `#[latent] {K}: &{V}`",
    label = "expected `&{V}`, found `{Self}`"
)]
pub trait LatentParam<'a, K, V: 'a>: Sized {
    /// The parameter's value.
    fn pass(value: &'a V) -> Self;
}

#[diagnostic::do_not_recommend]
impl<'a, K, V> LatentParam<'a, K, V> for &'a V {
    fn pass(value: &'a V) -> Self {
        value
    }
}

/// A `#[latent(key = K)] name: &V` parameter, where `N` is named `name`.
#[diagnostic::on_unimplemented(
    message = "latent `{K}` is a `{V}`: write `#[latent(key = {K})] {N}: &{V}`",
    label = "expected `&{V}`, found `{Self}`"
)]
pub trait KeyedLatentParam<'a, K, N, V: 'a>: Sized {
    /// The parameter's value.
    fn pass(value: &'a V) -> Self;
}

#[diagnostic::do_not_recommend]
impl<'a, K, N, V> KeyedLatentParam<'a, K, N, V> for &'a V {
    fn pass(value: &'a V) -> Self {
        value
    }
}

/// A `#[batch] field: &V` parameter (the batch must have the field) or `Option<&V>`.
#[diagnostic::on_unimplemented(
    message = "batch field `{F}` is a `{V}`: write `#[batch] {F}: &{V}`, or `Option<&{V}>` when the batch may lack it",
    label = "expected `&{V}` or `Option<&{V}>`, found `{Self}`"
)]
pub trait BatchParam<'a, F, V: 'a>: Sized {
    /// The parameter's value, or the error naming the field the batch lacks.
    fn pass(
        objective: &'static str,
        field: &'static str,
        value: Option<&'a V>,
    ) -> Result<Self, ObjectiveError>;
}

// One blanket impl (rather than one per form) so that rustc reports the unmet `BatchParam`
// with its message, without pointing at an implementation for another field type.
#[diagnostic::do_not_recommend]
impl<'a, F, V: 'a, P: BatchValue<'a, V>> BatchParam<'a, F, V> for P {
    fn pass(
        objective: &'static str,
        field: &'static str,
        value: Option<&'a V>,
    ) -> Result<Self, ObjectiveError> {
        P::from_field(value).ok_or(ObjectiveError::MissingBatchField { objective, field })
    }
}

/// The forms a batch parameter of a field of type `V` may take.
pub trait BatchValue<'a, V: 'a>: Sized {
    /// The parameter's value, `None` when the batch lacks a field the parameter requires.
    fn from_field(value: Option<&'a V>) -> Option<Self>;
}

impl<'a, V> BatchValue<'a, V> for &'a V {
    fn from_field(value: Option<&'a V>) -> Option<Self> {
        value
    }
}

impl<'a, V> BatchValue<'a, V> for Option<&'a V> {
    fn from_field(value: Option<&'a V>) -> Option<Self> {
        Some(value)
    }
}

/// A `#[ctx] field: V` parameter.
#[diagnostic::on_unimplemented(
    message = "step-context field `{F}` is a `{V}`: write `#[ctx] {F}: {V}`",
    label = "expected `{V}`, found `{Self}`"
)]
pub trait CtxParam<F, V>: Sized {
    /// The parameter's value.
    fn pass(value: V) -> Self;
}

#[diagnostic::do_not_recommend]
impl<F, V> CtxParam<F, V> for V {
    fn pass(value: V) -> Self {
        value
    }
}
