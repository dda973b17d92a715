//! Nearest-neighbour resizing as OpenCV's `cv2.resize(..., interpolation=INTER_NEAREST)`
//! computes it (the rule MineStudio's segmentation reader uses to bring masks to the frame
//! size).

/// The source index OpenCV reads for each of `dst` destination indices along an axis of
/// `src` pixels: `min(floor(i * (1 / (dst / src))), src - 1)`, in double precision as
/// OpenCV's `resizeNN` computes it.
pub fn nearest_index(src: usize, dst: usize) -> Vec<usize> {
    let inverse = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|i| ((i as f64 * inverse).floor() as usize).min(src.saturating_sub(1)))
        .collect()
}

/// Resizes a one-channel `src_size = (width, height)` image to `dst_size`.
pub fn resize_nearest(src: &[u8], src_size: (usize, usize), dst_size: (usize, usize)) -> Vec<u8> {
    if src_size == dst_size {
        return src.to_vec();
    }
    let cols = nearest_index(src_size.0, dst_size.0);
    let rows = nearest_index(src_size.1, dst_size.1);
    let mut out = Vec::with_capacity(dst_size.0 * dst_size.1);
    for &r in &rows {
        let row = &src[r * src_size.0..(r + 1) * src_size.0];
        out.extend(cols.iter().map(|&c| row[c]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_takes_the_floor_and_identity_copies() {
        assert_eq!(nearest_index(640, 4), vec![0, 160, 320, 480]);
        assert_eq!(nearest_index(3, 6), vec![0, 0, 1, 1, 2, 2]);
        let img: Vec<u8> = (0..6).collect();
        assert_eq!(resize_nearest(&img, (3, 2), (3, 2)), img);
        assert_eq!(resize_nearest(&img, (3, 2), (2, 1)), vec![0, 1]);
    }
}
