//! Matrix products on strided f32 views through the `gemm` crate (AVX-512 microkernels where
//! the CPU has them, runtime-detected).

/// A strided read-only matrix view: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The storage holding every element of the view.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = lhs * rhs` (`accumulate`: `dst += lhs * rhs`), `dst` row-major with `dst_row_stride`
/// between rows, on the calling thread.
///
/// # Panics
/// When the shapes disagree or a view does not fit its storage (a bug in the caller).
pub fn matmul(
    dst: &mut [f32],
    dst_row_stride: usize,
    lhs: View<'_>,
    rhs: View<'_>,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "matmul: inner dimensions differ");
    assert!(
        lhs.fits() && rhs.fits(),
        "matmul: a view exceeds its storage"
    );
    assert!(
        m == 0 || n == 0 || (m - 1) * dst_row_stride + n <= dst.len(),
        "matmul: the destination is too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_row_stride).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the asserts above keep every element the product reads or writes inside the
    // three slices; `dst` is borrowed mutably, so it aliases neither operand.
    unsafe { matmul_raw(dst.as_mut_ptr(), dst_row_stride, lhs, rhs, accumulate) }
}

/// [`matmul`] into a raw destination: `m x n` elements, row `r` starting at
/// `dst + r * dst_row_stride`, for products that write disjoint blocks of one matrix from
/// several threads. The views must fit their storage and agree in shape.
///
/// # Safety
/// Every destination element must be valid for writes (and, with `accumulate`, hold an
/// initialized value), and no other thread may access those elements during the call.
pub(crate) unsafe fn matmul_raw(
    dst: *mut f32,
    dst_row_stride: usize,
    lhs: View<'_>,
    rhs: View<'_>,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    debug_assert!(k == rhs.rows && lhs.fits() && rhs.fits());
    if m == 0 || n == 0 || k == 0 {
        // The callers only pass non-empty products with k > 0.
        return;
    }
    // SAFETY: the caller's contract covers the destination; the views fit their slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_products_match_the_definition() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 2x3
        let b: Vec<f32> = (0..12).map(|v| (v as f32) * 0.5).collect(); // 3x4
        let mut c = vec![1.0; 2 * 5];
        matmul(
            &mut c,
            5,
            View::row_major(&a, 2, 3),
            View::row_major(&b, 3, 4),
            false,
        );
        for i in 0..2 {
            for j in 0..4 {
                let want: f32 = (0..3).map(|k| a[i * 3 + k] * b[k * 4 + j]).sum();
                assert_eq!(c[i * 5 + j], want);
            }
            assert_eq!(c[i * 5 + 4], 1.0, "the padding column is untouched");
        }
        // Transposed views and accumulation.
        let mut d = vec![1.0; 3 * 3];
        let at = View::row_major(&a, 2, 3).t(); // 3x2
        matmul(&mut d, 3, at, View::row_major(&a, 2, 3), true);
        for i in 0..3 {
            for j in 0..3 {
                let want: f32 = 1.0 + (0..2).map(|k| a[k * 3 + i] * a[k * 3 + j]).sum::<f32>();
                assert_eq!(d[i * 3 + j], want);
            }
        }
    }
}
