//! Run-time selection of the instruction set a kernel runs with: the same plain loops
//! compiled for SSE2, AVX2+FMA and AVX-512, the best one for this CPU picked per call.

/// Instruction set of the kernel variant to run.
#[derive(Clone, Copy, Debug)]
pub enum Isa {
    /// Whatever the build targets (SSE2 on x86-64).
    Baseline,
    /// AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 F/BW/DQ/VL.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

#[cfg(test)]
thread_local! {
    /// Kernel variant forced for calls made from this test thread.
    static FORCED: std::cell::Cell<Option<Isa>> = const { std::cell::Cell::new(None) };
}

impl Isa {
    /// The variant to run: the best one for this CPU (tests may force another).
    pub fn detect() -> Self {
        #[cfg(test)]
        if let Some(isa) = FORCED.with(std::cell::Cell::get) {
            return isa;
        }
        Self::best()
    }

    /// Best variant supported by this CPU (detection results are cached by std).
    pub fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// Every variant this CPU can run (for tests).
    #[cfg(test)]
    pub fn supported() -> Vec<Self> {
        let mut all = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                all.push(Isa::Avx2);
            }
            if matches!(Isa::best(), Isa::Avx512) {
                all.push(Isa::Avx512);
            }
        }
        all
    }
}

/// Runs `f` once with each kernel variant this CPU supports forced on this thread.
#[cfg(test)]
pub fn for_each_isa(mut f: impl FnMut()) {
    for isa in Isa::supported() {
        FORCED.with(|c| c.set(Some(isa)));
        f();
    }
    FORCED.with(|c| c.set(None));
}

/// Defines `$name(isa, args..)` calling the `#[inline(always)]` body `$imp`
/// compiled for the instruction set `isa` (with the body's `const bool` generics, if any).
macro_rules! multiversion {
    ($vis:vis $name:ident $(<$($g:ident),+>)? ($($a:ident : $t:ty),* $(,)?) $(-> $r:ty)? => $imp:ident) => {
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$(const $g: bool),+>)? (isa: $crate::kernels::isa::Isa, $($a: $t),*) $(-> $r)? {
            match isa {
                $crate::kernels::isa::Isa::Baseline => $imp $(::<$($g),+>)? ($($a),*),
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::isa::Isa::Avx2 => {
                    #[target_feature(enable = "avx2,fma")]
                    #[allow(clippy::too_many_arguments)]
                    fn avx2 $(<$(const $g: bool),+>)? ($($a: $t),*) $(-> $r)? {
                        $imp $(::<$($g),+>)? ($($a),*)
                    }
                    // SAFETY: `$crate::kernels::isa::Isa::Avx2` is only built (`$crate::kernels::isa::Isa::best`, and
                    // `$crate::kernels::isa::Isa::supported` in tests) after checking at run time that
                    // the CPU has AVX2 and FMA.
                    unsafe { avx2 $(::<$($g),+>)? ($($a),*) }
                }
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::isa::Isa::Avx512 => {
                    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                    #[allow(clippy::too_many_arguments)]
                    fn avx512 $(<$(const $g: bool),+>)? ($($a: $t),*) $(-> $r)? {
                        $imp $(::<$($g),+>)? ($($a),*)
                    }
                    // SAFETY: `$crate::kernels::isa::Isa::Avx512` is only built (`$crate::kernels::isa::Isa::best`, and
                    // `$crate::kernels::isa::Isa::supported` in tests) after checking at run time that
                    // the CPU has these features.
                    unsafe { avx512 $(::<$($g),+>)? ($($a),*) }
                }
            }
        }
    };
}

pub(crate) use multiversion;
