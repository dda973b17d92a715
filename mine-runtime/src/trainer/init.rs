//! Drawing a policy's lazily initialized parameters before the policy changes device.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Int, Tensor};

/// Initializes every parameter of `module` that burn initializes lazily (on first use), on the
/// device it was built on and from that device's generator, in the module's visiting order.
///
/// Moving a lazy parameter to another device only moves its pending initialization: it would
/// then be drawn by the destination's generator, which on a GPU draws other numbers than the
/// CPU for the same seed.
pub(super) fn initialize_lazy_parameters<M: Module>(module: &M) {
    module.visit(&mut Initialize);
}

/// Reads every parameter, which initializes the lazy ones.
struct Initialize;

impl ModuleVisitor for Initialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        let _ = param.val();
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        let _ = param.val();
    }
}
