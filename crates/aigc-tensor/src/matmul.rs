//! Matrix products of 2-D and batched operands, through the GEMM kernel.

use rayon::prelude::*;

use crate::broadcast::broadcast_shape;
use crate::error::{Error, Result};
use crate::gemm::{self, GemmKernel};
use crate::Tensor;

/// Multiply-adds per parallel task below which a product stays on one thread.
const MIN_TASK_FLOPS: usize = 1 << 20;

/// Multiple of rows that row blocks of a split product start at: a multiple
/// of the height of the avx2 kernel's 6×16 register tile and the bf16
/// kernel's 12×32, so no block but the last ends in a partial tile. Other
/// kernels lose at most a partial tile per block.
const ROW_ALIGN: usize = 12;

/// Multiple of columns that column blocks start at: both tiles' widths.
const COL_ALIGN: usize = 32;

/// How each matrix of a (batched) product is cut into tasks for the rayon pool.
///
/// A task multiplies a block of rows of A by all of B, or all of A by a block
/// of columns of B. The kernel packs the whole of the other operand once per
/// task and reuses it across the block, so splitting the longer of m and n
/// duplicates the packing of the smaller operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    /// Blocks per matrix.
    parts: usize,
    /// Rows or columns per block (the last block may be shorter).
    block: usize,
    /// Whether the blocks are row blocks (else column blocks).
    along_rows: bool,
    /// Whether the tasks are worth running on the pool.
    parallel: bool,
}

impl Split {
    /// Plans `batch_count` products of `(m, k) · (k, n)` on `threads` threads.
    fn plan(batch_count: usize, m: usize, k: usize, n: usize, threads: usize) -> Split {
        let threads = threads.max(1);
        let multiply_adds = m * n * k;
        let parallel = threads > 1 && batch_count * multiply_adds >= 2 * MIN_TASK_FLOPS;
        let along_rows = m >= n;
        let (len, align) = if along_rows { (m, ROW_ALIGN) } else { (n, COL_ALIGN) };

        // Each task takes a whole matrix when the matrices share out evenly
        // among the threads, or nearly so because there are many. Otherwise
        // every matrix is cut into `threads` blocks, so each thread gets an
        // equal share.
        let wanted = if !parallel || batch_count % threads == 0 || batch_count >= 4 * threads {
            1
        } else {
            threads.min(multiply_adds / MIN_TASK_FLOPS).max(1)
        };
        let block = len.div_ceil(wanted).div_ceil(align) * align;
        // Rounding the block up can leave fewer blocks than wanted (25 rows
        // wanted in 4 blocks become 3 blocks of 12), so count them again.
        let parts = len.div_ceil(block).max(1);
        Split { parts, block, along_rows, parallel }
    }
}

/// C's base pointer, shared by tasks that write disjoint blocks of it.
#[derive(Clone, Copy)]
struct OutputPtr(*mut f32);

impl OutputPtr {
    /// Returns the address `offset` elements past the base.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

// SAFETY: the tasks sharing an OutputPtr write disjoint blocks of C, and the
// buffer outlives them (see `matmul_with`).
unsafe impl Send for OutputPtr {}
// SAFETY: as above.
unsafe impl Sync for OutputPtr {}

/// One operand as GEMM sees it: element pointer, batch strides, row and column strides.
struct Operand {
    ptr: usize,
    batch_strides: Vec<isize>,
    row_stride: isize,
    col_stride: isize,
}

impl Operand {
    /// Describes `t` (shape batch + [rows, cols]) broadcast to `batch`.
    fn new(t: &Tensor, batch: &[usize]) -> Operand {
        let nd = t.ndim();
        let strides = t.strides();
        let own_batch = nd - 2;
        let lead = batch.len() - own_batch;
        let batch_strides = (0..batch.len())
            .map(|i| if i < lead || t.shape()[i - lead] == 1 { 0 } else { strides[i - lead] })
            .collect();
        Operand {
            ptr: t.data.as_ptr() as usize,
            batch_strides,
            row_stride: strides[nd - 2],
            col_stride: strides[nd - 1],
        }
    }

    /// Pointer to the matrix at flat batch index `flat` of `batch`.
    fn matrix(&self, batch: &[usize], mut flat: usize) -> *const f32 {
        let mut offset = 0isize;
        for (axis, &size) in batch.iter().enumerate().rev() {
            offset += (flat % size) as isize * self.batch_strides[axis];
            flat /= size;
        }
        (self.ptr as *const f32).wrapping_offset(offset)
    }
}

/// A view whose strides are all non-negative, copying if needed.
fn with_forward_strides(t: &Tensor) -> Tensor {
    if t.strides().iter().all(|&s| s >= 0) {
        t.clone()
    } else {
        t.contiguous()
    }
}

impl Tensor {
    /// The matrix product `self · other` with the kernel in use (see [`gemm::kernel`]).
    ///
    /// Shapes: `(..., m, k) · (..., k, n) → (..., m, n)`, where the leading
    /// batch axes broadcast. Transposed or sliced operands are read through
    /// their strides, without copies. Both operands need at least 2 axes.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.matmul_with(other, gemm::kernel().as_ref())
    }

    /// [`Tensor::matmul`] with an explicit kernel, for tests and benchmarks.
    pub fn matmul_with(&self, other: &Tensor, kernel: &dyn GemmKernel) -> Result<Tensor> {
        if self.ndim() < 2 || other.ndim() < 2 {
            return Err(Error::shape("matmul", self.shape(), other.shape(), "both operands need at least 2 axes"));
        }
        let (m, k) = (self.shape()[self.ndim() - 2], self.shape()[self.ndim() - 1]);
        let (k2, n) = (other.shape()[other.ndim() - 2], other.shape()[other.ndim() - 1]);
        if k != k2 {
            return Err(Error::shape(
                "matmul",
                self.shape(),
                other.shape(),
                format!("inner dimensions differ ({k} vs {k2})"),
            ));
        }
        let batch = broadcast_shape("matmul", &self.shape()[..self.ndim() - 2], &other.shape()[..other.ndim() - 2])
            .map_err(|_| {
                Error::shape(
                    "matmul",
                    self.shape(),
                    other.shape(),
                    "the batch axes (all but the last two) must broadcast",
                )
            })?;
        let batch_count: usize = batch.iter().product();
        let mut out_shape = batch.clone();
        out_shape.extend([m, n]);
        let len = batch_count * m * n;
        if m == 0 || n == 0 || k == 0 || batch_count == 0 {
            return Tensor::from_vec(vec![0.0; len], &out_shape);
        }
        // Every element of C is written by exactly one task below with
        // beta = 0, and kernels never read C when beta is 0, so the buffer
        // skips the memset that zeroing it would cost (a few % of a step).
        let mut out: Vec<f32> = Vec::with_capacity(len);

        let a_tensor = with_forward_strides(self);
        let b_tensor = with_forward_strides(other);
        let a = Operand::new(&a_tensor, &batch);
        let b = Operand::new(&b_tensor, &batch);

        let split = Split::plan(batch_count, m, k, n, rayon::current_num_threads());
        let c_base = OutputPtr(out.as_mut_ptr());
        let run = |task: usize| {
            let matrix = task / split.parts;
            let first = (task % split.parts) * split.block;
            let (mut a_ptr, mut b_ptr) = (a.matrix(&batch, matrix), b.matrix(&batch, matrix));
            let mut c_ptr = c_base.at(matrix * m * n);
            let (rows, cols) = if split.along_rows {
                a_ptr = a_ptr.wrapping_offset(first as isize * a.row_stride);
                c_ptr = c_ptr.wrapping_add(first * n);
                (split.block.min(m - first), n)
            } else {
                b_ptr = b_ptr.wrapping_offset(first as isize * b.col_stride);
                c_ptr = c_ptr.wrapping_add(first);
                (m, split.block.min(n - first))
            };
            // SAFETY: a_ptr/b_ptr address rows×k and k×cols matrices inside the
            // operands' storage (kept alive by a_tensor/b_tensor), by the strides
            // ndarray reported. c_ptr addresses this task's own rows×cols block of
            // `out` (row stride n). No other task writes that block, and `out` is
            // not touched until every task has finished.
            unsafe {
                kernel.sgemm(
                    rows, k, cols, 1.0, a_ptr, a.row_stride, a.col_stride, b_ptr, b.row_stride, b.col_stride, 0.0,
                    c_ptr, n as isize, 1,
                );
            }
        };
        let tasks = batch_count * split.parts;
        if split.parallel && tasks > 1 {
            (0..tasks).into_par_iter().for_each(run);
        } else {
            (0..tasks).for_each(run);
        }
        drop((a_tensor, b_tensor));
        // SAFETY: the tasks above wrote all `len` elements (see the comment
        // where `out` is allocated); f32 has no invalid bit patterns.
        unsafe { out.set_len(len) };
        Tensor::from_vec(out, &out_shape)
    }
}

#[cfg(test)]
mod tests {
    use super::Split;

    #[test]
    fn split_small_product_stays_whole() {
        let split = Split::plan(1, 64, 64, 64, 2);
        assert!(!split.parallel);
        assert_eq!(split.parts, 1);
    }

    #[test]
    fn split_tall_product_by_rows() {
        let split = Split::plan(1, 2048, 128, 384, 2);
        assert!(split.parallel);
        assert!(split.along_rows);
        assert_eq!((split.parts, split.block), (2, 1032));
    }

    #[test]
    fn split_wide_product_by_columns() {
        let split = Split::plan(1, 256, 384, 8192, 2);
        assert!(split.parallel);
        assert!(!split.along_rows);
        assert_eq!((split.parts, split.block), (2, 4096));
    }

    #[test]
    fn split_even_batch_keeps_matrices_whole() {
        let split = Split::plan(64, 128, 32, 128, 2);
        assert!(split.parallel);
        assert_eq!(split.parts, 1);
    }

    #[test]
    fn split_odd_batch_cuts_each_matrix() {
        let split = Split::plan(3, 512, 512, 512, 2);
        assert_eq!(split.parts, 2);
    }

    #[test]
    fn split_rounding_recounts_blocks() {
        // 25 rows in 4 blocks round up to blocks of 12 rows, so only 3 remain.
        let split = Split::plan(1, 25, 65536, 8, 4);
        assert_eq!((split.parts, split.block), (3, 12));
    }
}
