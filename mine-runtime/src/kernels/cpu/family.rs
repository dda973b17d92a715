//! The CPU's microarchitecture family, for the kernel choices that depend on more than the
//! instruction set (`kernels::isa` says which instructions exist; this says how the core
//! executes them: AMD Zen 4 runs AVX-512 on 256-bit units, Intel Sapphire Rapids has two
//! 512-bit FMA units per core and AMX).
//!
//! Read once from CPUID (vendor, family and model), as `lscpu` shows them.

use std::sync::OnceLock;

/// A microarchitecture family whose kernel choices were (or will be) measured on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuFamily {
    /// AMD Zen 2 (family 0x17, models 0x30-0x7f; EPYC 7002 "Rome"): AVX2 and FMA, no AVX-512.
    AmdZen2,
    /// AMD Zen 3 (family 0x19, models 0x00-0x0f and 0x20-0x5f; EPYC 7003 "Milan", Ryzen
    /// 5000): AVX2 and two 256-bit FMA pipes, no AVX-512 (our AVX2 kernels).
    AmdZen3,
    /// AMD Zen 4 (family 0x19; EPYC 9004/8004, Ryzen 7000): AVX-512 and AVX512_BF16 on 256-bit
    /// datapaths.
    AmdZen4,
    /// AMD Zen 5 (family 0x1a): full 512-bit datapaths on server parts.
    AmdZen5,
    /// Intel Sapphire Rapids / Emerald Rapids (family 6, models 0x8f, 0xcf): two 512-bit FMA
    /// units per core, AVX512_BF16, AMX.
    IntelSapphireRapids,
    /// Intel Granite Rapids (family 6, models 0xad, 0xae).
    IntelGraniteRapids,
    /// Anything else (older x86, other architectures).
    Other,
}

impl CpuFamily {
    /// This CPU's family (detected once).
    pub fn detect() -> Self {
        static FAMILY: OnceLock<CpuFamily> = OnceLock::new();
        *FAMILY.get_or_init(Self::from_cpuid)
    }

    /// The family of a CPU with this CPUID vendor string, display family and display model.
    pub fn classify(vendor: &str, family: u32, model: u32) -> Self {
        match (vendor, family, model) {
            ("AuthenticAMD", 0x17, 0x30..=0x7f) => Self::AmdZen2,
            ("AuthenticAMD", 0x19, 0x00..=0x0f | 0x20..=0x5f) => Self::AmdZen3,
            ("AuthenticAMD", 0x19, 0x10..=0x1f | 0x60..=0x7f | 0xa0..=0xaf) => Self::AmdZen4,
            ("AuthenticAMD", 0x1a, _) => Self::AmdZen5,
            ("GenuineIntel", 6, 0x8f | 0xcf) => Self::IntelSapphireRapids,
            ("GenuineIntel", 6, 0xad | 0xae) => Self::IntelGraniteRapids,
            _ => Self::Other,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn from_cpuid() -> Self {
        use std::arch::x86_64::__cpuid;
        // CPUID exists on every x86-64 CPU; leaves 0 and 1 always exist.
        let (leaf0, leaf1) = (__cpuid(0), __cpuid(1));
        let vendor: Vec<u8> = [leaf0.ebx, leaf0.edx, leaf0.ecx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        let eax = leaf1.eax;
        let base_family = (eax >> 8) & 0xf;
        let family = match base_family {
            0xf => base_family + ((eax >> 20) & 0xff),
            _ => base_family,
        };
        let model = match base_family {
            6 | 0xf => ((eax >> 4) & 0xf) | (((eax >> 16) & 0xf) << 4),
            _ => (eax >> 4) & 0xf,
        };
        Self::classify(&String::from_utf8_lossy(&vendor), family, model)
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn from_cpuid() -> Self {
        Self::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_from_lscpus_numbers() {
        // AMD EPYC 9004 (Genoa): lscpu "CPU family: 25, Model: 17".
        assert_eq!(
            CpuFamily::classify("AuthenticAMD", 25, 17),
            CpuFamily::AmdZen4
        );
        // Zen 3 (Milan, family 25 model 1: this project's AVX2-only "AMD EPYC" sessions).
        assert_eq!(
            CpuFamily::classify("AuthenticAMD", 25, 1),
            CpuFamily::AmdZen3
        );
        // Zen 2 (Rome, family 23 model 49).
        assert_eq!(
            CpuFamily::classify("AuthenticAMD", 23, 49),
            CpuFamily::AmdZen2
        );
        // Xeon 4th gen (Sapphire Rapids): "CPU family: 6, Model: 143".
        assert_eq!(
            CpuFamily::classify("GenuineIntel", 6, 143),
            CpuFamily::IntelSapphireRapids
        );
        assert_eq!(
            CpuFamily::classify("GenuineIntel", 6, 106),
            CpuFamily::Other
        );
        // Detection agrees with /proc/cpuinfo on this machine.
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        };
        if let (Some(vendor), Some(family), Some(model)) =
            (field("vendor_id"), field("cpu family"), field("model"))
        {
            let (family, model) = (family.parse().unwrap(), model.parse().unwrap());
            assert_eq!(
                CpuFamily::detect(),
                CpuFamily::classify(&vendor, family, model)
            );
        }
    }
}
