//! Colour jitter of RGB24 frames (albumentations' `ColorJitter` on uint8 images): brightness,
//! contrast, saturation and hue, in a drawn order, each rounded back to 0..=255.

/// One of the four colour operations with its drawn factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColorOp {
    /// Multiply every channel by the factor.
    Brightness(f32),
    /// Blend with the frame's mean grey level: `v * f + mean * (1 - f)`.
    Contrast(f32),
    /// Blend with the pixel's grey level: `v * f + grey * (1 - f)`.
    Saturation(f32),
    /// Rotate the hue by this fraction of a turn (HSV).
    Hue(f32),
}

impl ColorOp {
    /// Whether the operation leaves every frame unchanged.
    pub fn is_identity(self) -> bool {
        match self {
            Self::Brightness(f) | Self::Contrast(f) | Self::Saturation(f) => f == 1.0,
            Self::Hue(h) => h == 0.0,
        }
    }
}

fn grey(p: &[u8]) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

fn rotate_hue(p: &mut [u8], turn: f32) {
    let [r, g, b] = [p[0], p[1], p[2]].map(|v| f32::from(v) / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    if delta == 0.0 {
        return; // grey: no hue to rotate
    }
    let h = if max == r {
        ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        (b - r) / delta + 2.0
    } else {
        (r - g) / delta + 4.0
    };
    let h = (h / 6.0 + turn).rem_euclid(1.0) * 6.0;
    let (s, v) = (delta / max, max);
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r1, g1, b1) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    for (out, v) in p.iter_mut().zip([r1, g1, b1]) {
        *out = to_u8((v + m) * 255.0);
    }
}

/// Applies `op` to one RGB24 frame in place.
pub fn apply(op: ColorOp, frame: &mut [u8]) {
    if op.is_identity() {
        return;
    }
    match op {
        ColorOp::Brightness(f) => frame.iter_mut().for_each(|v| *v = to_u8(f32::from(*v) * f)),
        ColorOp::Contrast(f) => {
            let n = (frame.len() / 3).max(1) as f32;
            let mean = frame.chunks_exact(3).map(grey).sum::<f32>() / n;
            frame
                .iter_mut()
                .for_each(|v| *v = to_u8(f32::from(*v) * f + mean * (1.0 - f)));
        }
        ColorOp::Saturation(f) => {
            for p in frame.chunks_exact_mut(3) {
                let g = grey(p);
                p.iter_mut()
                    .for_each(|v| *v = to_u8(f32::from(*v) * f + g * (1.0 - f)));
            }
        }
        ColorOp::Hue(turn) => frame.chunks_exact_mut(3).for_each(|p| rotate_hue(p, turn)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_factors_change_nothing_and_hue_turns_red_to_green() {
        let frame: Vec<u8> = (0..30).map(|v| (v * 8) as u8).collect();
        for op in [
            ColorOp::Brightness(1.0),
            ColorOp::Contrast(1.0),
            ColorOp::Saturation(1.0),
            ColorOp::Hue(0.0),
        ] {
            let mut f = frame.clone();
            apply(op, &mut f);
            assert_eq!(f, frame);
        }
        let mut red = vec![200, 0, 0];
        apply(ColorOp::Hue(1.0 / 3.0), &mut red);
        assert_eq!(red, vec![0, 200, 0]);
        let mut dark = vec![100, 50, 10];
        apply(ColorOp::Brightness(2.0), &mut dark);
        assert_eq!(dark, vec![200, 100, 20]);
        let mut flat = vec![100, 50, 10];
        apply(ColorOp::Saturation(0.0), &mut flat);
        assert!(flat.iter().all(|&v| v == flat[0]));
    }
}
