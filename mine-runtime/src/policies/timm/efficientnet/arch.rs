//! The EfficientNet-B0 architecture as timm builds it (`_gen_efficientnet('efficientnet_b0',
//! channel_multiplier, depth_multiplier)`): stage definitions, and timm's rounding of
//! channel and repeat counts under the multipliers.

/// One stage of timm's `arch_def` for B0 (`ds_r1_k3_s1_e1_c16_se0.25`, `ir_r2_k3_s2_e6_c24_se0.25`, ...).
struct StageDef {
    /// Depthwise-separable (`ds`) rather than inverted-residual (`ir`) blocks.
    depthwise_separable: bool,
    repeats: usize,
    kernel: usize,
    stride: usize,
    expansion: f64,
    channels: usize,
}

const fn stage(
    ds: bool,
    repeats: usize,
    kernel: usize,
    stride: usize,
    channels: usize,
) -> StageDef {
    StageDef {
        depthwise_separable: ds,
        repeats,
        kernel,
        stride,
        expansion: if ds { 1.0 } else { 6.0 },
        channels,
    }
}

/// EfficientNet-B0's stages (timm `_gen_efficientnet`, `arch_def`).
const B0_STAGES: [StageDef; 7] = [
    stage(true, 1, 3, 1, 16),
    stage(false, 2, 3, 2, 24),
    stage(false, 2, 5, 2, 40),
    stage(false, 3, 3, 2, 80),
    stage(false, 3, 5, 1, 112),
    stage(false, 4, 5, 2, 192),
    stage(false, 1, 3, 1, 320),
];
/// Channels of the stem convolution before rounding.
const STEM_CHANNELS: usize = 32;
/// Squeeze-excitation ratio, relative to the block's input channels.
const SE_RATIO: f64 = 0.25;

/// The shape of one block, as timm's builder derives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockSpec {
    /// Depthwise-separable (stage 0) or inverted-residual block.
    pub depthwise_separable: bool,
    /// Input channels.
    pub in_channels: usize,
    /// Channels of the depthwise convolution (expanded for inverted residuals).
    pub mid_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Depthwise kernel size.
    pub kernel: usize,
    /// Depthwise stride.
    pub stride: usize,
    /// Squeeze-excitation channels.
    pub se_channels: usize,
}

impl BlockSpec {
    /// Whether the block adds its input to its output (timm `has_skip`).
    pub fn has_skip(&self) -> bool {
        self.stride == 1 && self.in_channels == self.out_channels
    }
}

/// The whole network's shape: the stem's channels and the blocks of each stage.
#[derive(Clone, Debug, PartialEq)]
pub struct EfficientNetSpec {
    /// Input channels (ROCKET-1: RGB and the object mask).
    pub in_channels: usize,
    /// Output channels of the stem.
    pub stem_channels: usize,
    /// Blocks per stage.
    pub stages: Vec<Vec<BlockSpec>>,
}

impl EfficientNetSpec {
    /// B0 scaled by timm's multipliers (1 and 1 for the published `efficientnet_b0`).
    pub fn b0(in_channels: usize, channel_multiplier: f64, depth_multiplier: f64) -> Self {
        let round_channels = |c: usize| make_divisible(c as f64 * channel_multiplier);
        let stem_channels = round_channels(STEM_CHANNELS);
        let mut channels = stem_channels;
        let stages = B0_STAGES
            .iter()
            .map(|def| {
                let repeats = ((def.repeats as f64 * depth_multiplier).ceil() as usize).max(1);
                let out_channels = round_channels(def.channels);
                (0..repeats)
                    .map(|i| {
                        let in_channels = channels;
                        channels = out_channels;
                        let mid_channels = if def.depthwise_separable {
                            in_channels
                        } else {
                            make_divisible(in_channels as f64 * def.expansion)
                        };
                        let se_ratio = SE_RATIO / def.expansion;
                        BlockSpec {
                            depthwise_separable: def.depthwise_separable,
                            in_channels,
                            mid_channels,
                            out_channels,
                            kernel: def.kernel,
                            stride: if i == 0 { def.stride } else { 1 },
                            se_channels: (mid_channels as f64 * se_ratio).round_ties_even()
                                as usize,
                        }
                    })
                    .collect()
            })
            .collect();
        Self {
            in_channels,
            stem_channels,
            stages,
        }
    }

    /// Channels of the last feature map (timm `feature_info[-1]['num_chs']`).
    pub fn out_channels(&self) -> usize {
        self.stages
            .last()
            .and_then(|s| s.last())
            .map_or(self.stem_channels, |b| b.out_channels)
    }
}

/// timm's `make_divisible(v, 8)`: the nearest multiple of 8 (at least 8), one step up when
/// rounding lost more than 10%.
fn make_divisible(v: f64) -> usize {
    const DIVISOR: usize = 8;
    let rounded = ((v + DIVISOR as f64 / 2.0) as usize / DIVISOR * DIVISOR).max(DIVISOR);
    if (rounded as f64) < 0.9 * v {
        rounded + DIVISOR
    } else {
        rounded
    }
}

/// timm's symmetric padding for a kernel and stride (`get_padding`, dilation 1).
pub fn padding(kernel: usize, stride: usize) -> usize {
    ((stride - 1) + (kernel - 1)) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[out, mid, se, kernel, stride]` per block, as timm 1.0.31 builds the model.
    fn shape(spec: &EfficientNetSpec) -> Vec<Vec<[usize; 5]>> {
        spec.stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|b| {
                        [
                            b.out_channels,
                            b.mid_channels,
                            b.se_channels,
                            b.kernel,
                            b.stride,
                        ]
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_golden_tiny_network_matches_timm() {
        // _gen_efficientnet('efficientnet_b0', channel_multiplier=0.125, depth_multiplier=0.5)
        let spec = EfficientNetSpec::b0(4, 0.125, 0.5);
        assert_eq!(spec.stem_channels, 8);
        assert_eq!(
            shape(&spec),
            vec![
                vec![[8, 8, 2, 3, 1]],
                vec![[8, 48, 2, 3, 2]],
                vec![[8, 48, 2, 5, 2]],
                vec![[16, 48, 2, 3, 2], [16, 96, 4, 3, 1]],
                vec![[16, 96, 4, 5, 1], [16, 96, 4, 5, 1]],
                vec![[24, 96, 4, 5, 2], [24, 144, 6, 5, 1]],
                vec![[40, 144, 6, 3, 1]],
            ]
        );
        let skips: Vec<Vec<bool>> = spec
            .stages
            .iter()
            .map(|s| s.iter().map(BlockSpec::has_skip).collect())
            .collect();
        assert_eq!(
            skips,
            [
                vec![true],
                vec![false],
                vec![false],
                vec![false, true],
                vec![true, true],
                vec![false, true],
                vec![false]
            ]
        );
    }

    #[test]
    fn the_published_b0_matches_timm() {
        let spec = EfficientNetSpec::b0(4, 1.0, 1.0);
        assert_eq!(spec.stem_channels, 32);
        let blocks: Vec<usize> = spec.stages.iter().map(Vec::len).collect();
        assert_eq!(blocks, [1, 2, 2, 3, 3, 4, 1]);
        let first: Vec<[usize; 5]> = shape(&spec).iter().map(|s| s[0]).collect();
        assert_eq!(
            first,
            [
                [16, 32, 8, 3, 1],
                [24, 96, 4, 3, 2],
                [40, 144, 6, 5, 2],
                [80, 240, 10, 3, 2],
                [112, 480, 20, 5, 1],
                [192, 672, 28, 5, 2],
                [320, 1152, 48, 3, 1],
            ]
        );
        assert_eq!(spec.stages[5][3].se_channels, 48);
        assert_eq!(spec.out_channels(), 320);
        assert!(!spec.stages[0][0].has_skip(), "16 != 32 channels");
    }

    #[test]
    fn padding_is_timms_symmetric_padding() {
        assert_eq!(padding(3, 2), 1);
        assert_eq!(padding(5, 2), 2);
        assert_eq!(padding(3, 1), 1);
        assert_eq!(padding(5, 1), 2);
    }
}
