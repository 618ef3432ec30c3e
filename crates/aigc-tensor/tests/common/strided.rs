//! Matrices at any strides in flat buffers, for calling a GEMM kernel's
//! `sgemm` directly on transposed, padded and reversed operands.

use aigc_tensor::gemm::GemmKernel;
use aigc_tensor::{Rng, Tensor};

/// A matrix stored in a flat buffer: element (i, j) is at
/// `data[offset + i·rs + j·cs]`. Elements outside the matrix are padding.
#[derive(Clone)]
pub struct Strided {
    pub data: Vec<f32>,
    pub offset: usize,
    pub rs: isize,
    pub cs: isize,
    pub rows: usize,
    pub cols: usize,
}

/// How a [`Strided`] matrix is laid out in its buffer.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    RowMajor,
    ColumnMajor,
    /// Row-major with 3 floats of padding after each row.
    PaddedRows,
    /// Row-major with the rows in reverse order (a negative row stride).
    ReversedRows,
    /// Every second float of a column-major buffer twice as tall.
    EveryOther,
}

pub const LAYOUTS: [Layout; 5] =
    [Layout::RowMajor, Layout::ColumnMajor, Layout::PaddedRows, Layout::ReversedRows, Layout::EveryOther];

impl Strided {
    /// Builds a `rows × cols` matrix in `layout`, with the whole buffer
    /// (padding included) filled with N(0, 1) values from `seed`.
    pub fn random(rows: usize, cols: usize, layout: Layout, seed: u64) -> Strided {
        let (r, c) = (rows as isize, cols as isize);
        let (offset, rs, cs, len) = match layout {
            Layout::RowMajor => (0, c, 1, rows * cols),
            Layout::ColumnMajor => (0, 1, r, rows * cols),
            Layout::PaddedRows => (0, c + 3, 1, rows * (cols + 3)),
            Layout::ReversedRows => (rows.saturating_sub(1) * cols, -c, 1, rows * cols),
            Layout::EveryOther => (0, 2, 2 * r, 2 * rows * cols),
        };
        let data = Tensor::randn(&[len], 0.0, 1.0, &mut Rng::seed(seed)).to_vec();
        Strided { data, offset, rs, cs, rows, cols }
    }

    pub fn index(&self, i: usize, j: usize) -> usize {
        (self.offset as isize + i as isize * self.rs + j as isize * self.cs) as usize
    }

    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[self.index(i, j)]
    }

    pub fn ptr(&self) -> *const f32 {
        self.data.as_ptr().wrapping_add(self.offset)
    }

    pub fn ptr_mut(&mut self) -> *mut f32 {
        self.data.as_mut_ptr().wrapping_add(self.offset)
    }

    /// Returns, for each buffer index, whether it contains an element of the matrix.
    pub fn element_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.data.len()];
        for i in 0..self.rows {
            for j in 0..self.cols {
                mask[self.index(i, j)] = true;
            }
        }
        mask
    }
}

/// Calls `kernel.sgemm` on the strided operands, updating `c` in place.
pub fn sgemm(kernel: &dyn GemmKernel, alpha: f32, a: &Strided, b: &Strided, beta: f32, c: &mut Strided) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!((b.rows, c.rows, c.cols), (k, m, n), "operand shapes must agree");
    let (rsc, csc) = (c.rs, c.cs);
    // SAFETY: every (i, p), (p, j), (i, j) address lies inside the operands'
    // buffers by construction in `Strided::random`, and C has its own buffer.
    unsafe { kernel.sgemm(m, k, n, alpha, a.ptr(), a.rs, a.cs, b.ptr(), b.rs, b.cs, beta, c.ptr_mut(), rsc, csc) }
}

/// Calls `kernel.sgemm` on rows `rows` and columns `cols` of the product,
/// updating that block of `c` in place.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_block(
    kernel: &dyn GemmKernel,
    alpha: f32,
    a: &Strided,
    b: &Strided,
    beta: f32,
    c: &mut Strided,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) {
    let k = a.cols;
    let a_ptr = a.ptr().wrapping_offset(rows.start as isize * a.rs);
    let b_ptr = b.ptr().wrapping_offset(cols.start as isize * b.cs);
    let (rsc, csc) = (c.rs, c.cs);
    let c_ptr = c.ptr_mut().wrapping_offset(rows.start as isize * rsc + cols.start as isize * csc);
    // SAFETY: the block's rows of A, columns of B and elements of C lie inside
    // the operands, which `Strided::random` built to hold every element.
    unsafe {
        kernel.sgemm(rows.len(), k, cols.len(), alpha, a_ptr, a.rs, a.cs, b_ptr, b.rs, b.cs, beta, c_ptr, rsc, csc)
    }
}


/// Checks that a product with k = 0 leaves β·C: C doubled with β = 2, and
/// zeros with β = 0 even where C held NaN.
pub fn assert_zero_depth_scales_c(kernel: &dyn GemmKernel) {
    let a = Strided::random(5, 0, Layout::RowMajor, 400);
    let b = Strided::random(0, 18, Layout::RowMajor, 401);
    let c = Strided::random(5, 18, Layout::PaddedRows, 402);

    let mut doubled = c.clone();
    sgemm(kernel, 1.0, &a, &b, 2.0, &mut doubled);
    for (i, j) in (0..5).flat_map(|i| (0..18).map(move |j| (i, j))) {
        assert_eq!(doubled.get(i, j), 2.0 * c.get(i, j), "at ({i}, {j})");
    }

    let mut cleared = c.clone();
    cleared.data.fill(f32::NAN);
    sgemm(kernel, 1.0, &a, &b, 0.0, &mut cleared);
    for (i, j) in (0..5).flat_map(|i| (0..18).map(move |j| (i, j))) {
        assert_eq!(cleared.get(i, j), 0.0, "at ({i}, {j})");
    }
}

/// Checks that products with m = 0 or n = 0 run without touching memory.
pub fn assert_empty_products_touch_nothing(kernel: &dyn GemmKernel) {
    for (m, k, n) in [(0, 4, 5), (4, 5, 0), (0, 0, 0)] {
        let a = Strided::random(m, k, Layout::RowMajor, 500);
        let b = Strided::random(k, n, Layout::RowMajor, 501);
        let mut c = Strided::random(m, n, Layout::RowMajor, 502);
        sgemm(kernel, 1.0, &a, &b, 0.0, &mut c);
        assert!(c.data.is_empty());
    }
}
