//! An affine warp about the frame centre (albumentations' `Affine` with a constant zero
//! border): rotation, isotropic scale and shear; bilinear for frames, nearest for masks.

/// Rotation, scale and shear of one draw (degrees, factor, degrees).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineDraw {
    /// Rotation in degrees (counter-clockwise on screen).
    pub rotate: f64,
    /// Scale factor.
    pub scale: f64,
    /// Horizontal shear in degrees.
    pub shear_x: f64,
    /// Vertical shear in degrees.
    pub shear_y: f64,
}

impl AffineDraw {
    /// Whether the warp leaves every frame unchanged.
    pub fn is_identity(&self) -> bool {
        self.rotate == 0.0 && self.scale == 1.0 && self.shear_x == 0.0 && self.shear_y == 0.0
    }

    /// The 2x2 matrix mapping source offsets from the centre to destination offsets:
    /// rotation · shear · scale.
    fn matrix(&self) -> [[f64; 2]; 2] {
        let (sin, cos) = (-self.rotate).to_radians().sin_cos();
        let (tx, ty) = (
            self.shear_x.to_radians().tan(),
            self.shear_y.to_radians().tan(),
        );
        let shear = [[1.0, tx], [ty, 1.0]];
        let rot = [[cos, -sin], [sin, cos]];
        let mut m = [[0.0; 2]; 2];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (rot[i][0] * shear[0][j] + rot[i][1] * shear[1][j]) * self.scale;
            }
        }
        m
    }

    /// For every destination pixel, the source position `(x, y)` it reads.
    fn source_positions(&self, width: usize, height: usize) -> Vec<(f64, f64)> {
        let m = self.matrix();
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let inv = [
            [m[1][1] / det, -m[0][1] / det],
            [-m[1][0] / det, m[0][0] / det],
        ];
        let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
        let mut out = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                out.push((
                    inv[0][0] * dx + inv[0][1] * dy + cx,
                    inv[1][0] * dx + inv[1][1] * dy + cy,
                ));
            }
        }
        out
    }
}

/// A warp of one frame size, computed once and applied to every frame and mask of a window.
#[derive(Clone, Debug)]
pub struct Warp {
    width: usize,
    height: usize,
    sources: Vec<(f64, f64)>,
}

impl Warp {
    /// The warp `draw` makes of `width x height` frames.
    pub fn new(draw: &AffineDraw, width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            sources: draw.source_positions(width, height),
        }
    }

    /// Warps an image of `channels` interleaved channels, bilinearly (zero outside).
    pub fn bilinear(&self, src: &[u8], channels: usize) -> Vec<u8> {
        let (w, h) = (self.width as i64, self.height as i64);
        let mut out = vec![0u8; src.len()];
        for (px, &(sx, sy)) in out.chunks_exact_mut(channels).zip(&self.sources) {
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            for (c, v) in px.iter_mut().enumerate() {
                let at = |x: i64, y: i64| -> f64 {
                    if (0..w).contains(&x) && (0..h).contains(&y) {
                        f64::from(src[((y * w + x) as usize) * channels + c])
                    } else {
                        0.0
                    }
                };
                let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                *v = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// Warps a one-channel mask with the nearest source pixel (zero outside).
    pub fn nearest(&self, src: &[u8]) -> Vec<u8> {
        let (w, h) = (self.width as i64, self.height as i64);
        self.sources
            .iter()
            .map(|&(sx, sy)| {
                let (x, y) = (sx.round() as i64, sy.round() as i64);
                if (0..w).contains(&x) && (0..h).contains(&y) {
                    src[(y * w + x) as usize]
                } else {
                    0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_copies_and_a_quarter_turn_rotates() {
        let img: Vec<u8> = (0..12).collect();
        let id = AffineDraw {
            rotate: 0.0,
            scale: 1.0,
            shear_x: 0.0,
            shear_y: 0.0,
        };
        assert_eq!(Warp::new(&id, 4, 3).bilinear(&img, 1), img);
        assert_eq!(Warp::new(&id, 4, 3).nearest(&img), img);
        // 90 degrees counter-clockwise on a 3x3 image: the top row becomes the left column.
        let img: Vec<u8> = (1..=9).collect();
        let quarter = AffineDraw { rotate: 90.0, ..id };
        assert_eq!(
            Warp::new(&quarter, 3, 3).nearest(&img),
            vec![3, 6, 9, 2, 5, 8, 1, 4, 7]
        );
        // Scaling down leaves a zero border.
        let half = AffineDraw { scale: 0.5, ..id };
        let out = Warp::new(&half, 4, 4).nearest(&[1; 16]);
        assert_eq!(out[0], 0);
        assert_eq!(out[5], 1);
    }
}
