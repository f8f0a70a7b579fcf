//! Row-major matrices: owned [`Mat`], borrowed views [`MatRef`] / [`MatMut`].
//!
//! Views carry a row stride so that a block of columns (e.g. the conditioning half of a
//! coupling's input) is a view, not a copy. Columns are always contiguous (column stride 1).
//! [`gemm`] is the only `unsafe` in the crate: it checks shapes, then calls matrixmultiply.

use crate::real::Real;

/// An owned row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat<T> {
    data: Vec<T>,
    rows: usize,
    cols: usize,
}

/// A borrowed, read-only row-major view with row stride `stride >= cols`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    stride: usize,
}

/// A borrowed, mutable row-major view with row stride `stride >= cols`.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<T: Copy + Default> Mat<T> {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { data: vec![T::default(); rows * cols], rows, cols }
    }
}

impl<T: Copy> Mat<T> {
    /// Wraps a row-major buffer of length `rows * cols`.
    #[track_caller]
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Self {
        assert_eq!(data.len(), rows * cols, "Mat::from_vec: buffer length must be rows * cols");
        Self { data, rows, cols }
    }

    /// Builds a matrix from a function of (row, col).
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> T) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        Self { data, rows, cols }
    }

    /// Number of rows: the batch axis (one θ, x or sample per row, as everywhere in lwflow).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns: each row's dimension (d or ctx_dim); also an owned matrix's row stride.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// All elements, row-major.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }
    /// All elements, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }
    /// The row-major storage (`rows · cols` elements), without copying.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
    /// Row `r` as a slice of `cols` elements; panics if `r` is out of range.
    pub fn row(&self, r: usize) -> &[T] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// Row `r`, mutable; panics if `r` is out of range.
    pub fn row_mut(&mut self, r: usize) -> &mut [T] {
        let c = self.cols;
        &mut self.data[r * c..(r + 1) * c]
    }
    /// A borrowed view of the whole matrix.
    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef { data: &self.data, rows: self.rows, cols: self.cols, stride: self.cols }
    }
    /// A mutable view of the whole matrix.
    pub fn as_mut(&mut self) -> MatMut<'_, T> {
        MatMut { data: &mut self.data, rows: self.rows, cols: self.cols, stride: self.cols }
    }
    /// Changes the number of rows, keeping the buffer's allocation when it shrinks.
    pub fn resize_rows(&mut self, rows: usize)
    where
        T: Default,
    {
        self.data.resize(rows * self.cols, T::default());
        self.rows = rows;
    }
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A contiguous `rows × cols` view of `data`.
    #[track_caller]
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "MatRef::new: buffer too short");
        Self { data, rows, cols, stride: cols }
    }
    /// An empty (`rows × 0`) view, the context of an unconditional layer.
    pub fn empty(rows: usize) -> Self {
        Self { data: &[], rows, cols: 0, stride: 0 }
    }
    /// Number of rows: the batch axis (one θ, x or sample per row, as everywhere in lwflow).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns: each row's dimension (d or ctx_dim).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Elements between the starts of consecutive rows (≥ `cols`).
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Row `r` as a slice of `cols` elements, borrowed for the view's lifetime.
    #[inline(always)]
    pub fn row(&self, r: usize) -> &'a [T] {
        debug_assert!(r < self.rows);
        &self.data[r * self.stride..r * self.stride + self.cols]
    }
    /// Element (r, c) = `data[r · stride + c]`; panics out of range.
    #[inline(always)]
    pub fn at(&self, r: usize, c: usize) -> T {
        debug_assert!(r < self.rows && c < self.cols);
        self.data[r * self.stride + c]
    }
    /// Columns `start..start + n` as a strided view.
    #[track_caller]
    pub fn cols_range(&self, start: usize, n: usize) -> MatRef<'a, T> {
        assert!(start + n <= self.cols, "cols_range out of bounds");
        if self.rows == 0 || n == 0 {
            return MatRef { data: &[], rows: self.rows, cols: n, stride: self.stride };
        }
        let end = (self.rows - 1) * self.stride + start + n;
        MatRef { data: &self.data[start..end], rows: self.rows, cols: n, stride: self.stride }
    }
    /// Rows `start..start + n`.
    #[track_caller]
    pub fn rows_range(&self, start: usize, n: usize) -> MatRef<'a, T> {
        assert!(start + n <= self.rows, "rows_range out of bounds");
        if n == 0 || self.cols == 0 {
            return MatRef { data: &[], rows: n, cols: self.cols, stride: self.stride };
        }
        let end = (start + n - 1) * self.stride + self.cols;
        MatRef { data: &self.data[start * self.stride..end], rows: n, cols: self.cols, stride: self.stride }
    }
    /// Copies into an owned matrix.
    pub fn to_owned(&self) -> Mat<T> {
        Mat::from_fn(self.rows, self.cols, |r, c| self.at(r, c))
    }
}

impl<'a, T: Copy> MatMut<'a, T> {
    /// A contiguous `rows × cols` mutable view of `data`.
    #[track_caller]
    pub fn new(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "MatMut::new: buffer too short");
        Self { data, rows, cols, stride: cols }
    }
    /// Number of rows: the batch axis (one θ, x or sample per row, as everywhere in lwflow).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns: each row's dimension (d or ctx_dim).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Elements between the starts of consecutive rows (≥ `cols`).
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Row `r` as a slice of `cols` elements.
    #[inline(always)]
    pub fn row(&self, r: usize) -> &[T] {
        &self.data[r * self.stride..r * self.stride + self.cols]
    }
    /// Row `r`, mutable.
    #[inline(always)]
    pub fn row_mut(&mut self, r: usize) -> &mut [T] {
        &mut self.data[r * self.stride..r * self.stride + self.cols]
    }
    /// Element (r, c) = `data[r · stride + c]`; panics out of range.
    #[inline(always)]
    pub fn at(&self, r: usize, c: usize) -> T {
        self.data[r * self.stride + c]
    }
    /// Sets element (r, c) to `v`.
    #[inline(always)]
    pub fn set(&mut self, r: usize, c: usize, v: T) {
        self.data[r * self.stride + c] = v;
    }
    /// Reborrows as a read-only view.
    pub fn rb(&self) -> MatRef<'_, T> {
        MatRef { data: self.data, rows: self.rows, cols: self.cols, stride: self.stride }
    }
    /// Reborrows mutably (shorter lifetime).
    pub fn rb_mut(&mut self) -> MatMut<'_, T> {
        MatMut { data: self.data, rows: self.rows, cols: self.cols, stride: self.stride }
    }
    /// Columns `start..start + n` as a strided mutable view.
    #[track_caller]
    pub fn cols_range_mut(&mut self, start: usize, n: usize) -> MatMut<'_, T> {
        assert!(start + n <= self.cols, "cols_range_mut out of bounds");
        if self.rows == 0 || n == 0 {
            return MatMut { data: &mut [], rows: self.rows, cols: n, stride: self.stride };
        }
        let end = (self.rows - 1) * self.stride + start + n;
        MatMut { data: &mut self.data[start..end], rows: self.rows, cols: n, stride: self.stride }
    }
    /// Rows `start..start + n`.
    #[track_caller]
    pub fn rows_range_mut(&mut self, start: usize, n: usize) -> MatMut<'_, T> {
        assert!(start + n <= self.rows, "rows_range_mut out of bounds");
        if n == 0 || self.cols == 0 {
            return MatMut { data: &mut [], rows: n, cols: self.cols, stride: self.stride };
        }
        let end = (start + n - 1) * self.stride + self.cols;
        MatMut { data: &mut self.data[start * self.stride..end], rows: n, cols: self.cols, stride: self.stride }
    }
    /// Copies `src` (same shape) into this view.
    #[track_caller]
    pub fn copy_from(&mut self, src: MatRef<'_, T>) {
        assert_eq!((self.rows, self.cols), (src.rows(), src.cols()), "copy_from: shape mismatch");
        for r in 0..self.rows {
            self.row_mut(r).copy_from_slice(src.row(r));
        }
    }
    /// Sets every element to `v`.
    pub fn fill(&mut self, v: T) {
        for r in 0..self.rows {
            self.row_mut(r).fill(v);
        }
    }
}

/// Whether an operand of [`gemm`] is used as is or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Use the operand as stored: A.
    N,
    /// Use the operand's transpose: Aᵀ (read through strides, never copied).
    T,
}

/// GEMM calls handed to matrixmultiply so far, counted in test builds only. Each call allocates
/// and frees its own packing buffer, so the allocation tests (`tests/step_alloc.rs`) subtract
/// these from what they count.
#[cfg(any(test, feature = "testing"))]
static GEMM_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// GEMM calls so far, process-wide (see `GEMM_CALLS`); test builds only.
#[cfg(any(test, feature = "testing"))]
pub fn gemm_calls() -> usize {
    GEMM_CALLS.load(std::sync::atomic::Ordering::Relaxed)
}

/// C ← α·op(A)·op(B) + β·C. When β = 0, C's previous contents are ignored (may be NaN).
#[track_caller]
pub fn gemm<T: Real>(alpha: T, a: MatRef<'_, T>, op_a: Op, b: MatRef<'_, T>, op_b: Op, beta: T, c: MatMut<'_, T>) {
    // (rows, cols, row stride, col stride) of op(X)
    let view = |x: &MatRef<'_, T>, op: Op| match op {
        Op::N => (x.rows, x.cols, x.stride as isize, 1isize),
        Op::T => (x.cols, x.rows, 1isize, x.stride as isize),
    };
    let (m, k, rsa, csa) = view(&a, op_a);
    let (k2, n, rsb, csb) = view(&b, op_b);
    assert_eq!(k, k2, "gemm: inner dimensions differ");
    assert_eq!((c.rows, c.cols), (m, n), "gemm: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // matrixmultiply handles k = 0 by scaling C; keep the β = 0 contract explicit.
        let mut c = c;
        for r in 0..m {
            for v in c.row_mut(r) {
                *v = if beta == T::zero() { T::zero() } else { beta * *v };
            }
        }
        return;
    }
    #[cfg(any(test, feature = "testing"))]
    GEMM_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: shapes were checked above; every view's buffer covers (rows-1)*stride + cols
    // elements by construction, and `c` is a unique borrow, so it overlaps neither input.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            rsa,
            csa,
            b.data.as_ptr(),
            rsb,
            csb,
            beta,
            c.data.as_mut_ptr(),
            c.stride as isize,
            1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
        Mat::from_fn(a.rows(), b.cols(), |i, j| (0..a.cols()).map(|k| a.row(i)[k] * b.row(k)[j]).sum())
    }

    #[test]
    fn gemm_matches_naive_product_for_all_transposes() {
        let a = Mat::from_fn(5, 3, |i, j| (i as f64 + 1.0) * 0.3 - j as f64);
        let b = Mat::from_fn(3, 4, |i, j| (i * j) as f64 * 0.1 + 1.0);
        let want = naive(&a, &b);
        let at = Mat::from_fn(3, 5, |i, j| a.row(j)[i]);
        let bt = Mat::from_fn(4, 3, |i, j| b.row(j)[i]);
        for (aa, oa, bb, ob) in
            [(&a, Op::N, &b, Op::N), (&at, Op::T, &b, Op::N), (&a, Op::N, &bt, Op::T), (&at, Op::T, &bt, Op::T)]
        {
            let mut c = Mat::from_fn(5, 4, |_, _| f64::NAN);
            gemm(1.0, aa.as_ref(), oa, bb.as_ref(), ob, 0.0, c.as_mut());
            for (x, y) in c.as_slice().iter().zip(want.as_slice()) {
                assert!((x - y).abs() < 1e-12, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn column_views_are_strided() {
        let a = Mat::from_fn(3, 4, |i, j| (10 * i + j) as f64);
        let v = a.as_ref().cols_range(1, 2);
        assert_eq!(v.row(2), &[21.0, 22.0]);
        let b = Mat::from_fn(2, 3, |i, j| (i + j) as f64);
        let mut c = Mat::zeros(3, 3);
        gemm(1.0, v, Op::N, b.as_ref(), Op::N, 0.0, c.as_mut());
        assert_eq!(c.row(0), &[2.0, 5.0, 8.0]);
    }
}
