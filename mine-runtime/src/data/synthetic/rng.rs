//! A tiny seeded generator (SplitMix64) whose stream never changes with dependency versions,
//! so a config always describes the same dataset.

/// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, one multiply-xorshift per draw.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for episode `episode` of the dataset seeded with `seed`.
    pub fn for_episode(seed: u64, episode: usize) -> Self {
        let mut g = Self(seed ^ 0x5DEE_CE66_D1CE_4E5B);
        let mixed = g.next_u64() ^ (episode as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self(mixed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `lo..=hi` (tiny modulo bias, irrelevant here).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo + 1) as u64;
        lo + (self.next_u64() % span) as i64
    }

    /// A uniform float in `lo..=hi` (53 random bits).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// `true` with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }
}
