//! Matrix products of 2-D and batched operands, through the GEMM kernel.

use rayon::prelude::*;

use crate::broadcast::broadcast_shape;
use crate::error::{Error, Result};
use crate::gemm::{self, GemmKernel};
use crate::Tensor;

/// Multiply-adds per parallel task below which a product stays on one thread.
const MIN_TASK_FLOPS: usize = 1 << 20;

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
        let mut out = vec![0.0f32; batch_count * m * n];
        if m == 0 || n == 0 || k == 0 || batch_count == 0 {
            return Tensor::from_vec(out, &out_shape);
        }

        let a_tensor = with_forward_strides(self);
        let b_tensor = with_forward_strides(other);
        let a = Operand::new(&a_tensor, &batch);
        let b = Operand::new(&b_tensor, &batch);

        // Split the work into (batch, row block) tasks so both cores get some,
        // but keep each task large enough to be worth a thread.
        let threads = rayon::current_num_threads().max(1);
        let flops = m * n * k;
        let wanted_blocks = if batch_count >= threads || flops < 2 * MIN_TASK_FLOPS {
            1
        } else {
            (threads.div_ceil(batch_count)).min(flops / MIN_TASK_FLOPS).min(m.div_ceil(8)).max(1)
        };
        let rows_per_block = m.div_ceil(wanted_blocks);
        // Rounding the block height up can leave fewer blocks than wanted
        // (m = 9 in 4 blocks gives 3 blocks of 3 rows); `run` finds a task's
        // matrix by dividing by the real count.
        let row_blocks = m.div_ceil(rows_per_block);
        let run = |(task, chunk): (usize, &mut [f32])| {
            let matrix = task / row_blocks;
            let first_row = (task % row_blocks) * rows_per_block;
            let rows = chunk.len() / n;
            let a_ptr = a.matrix(&batch, matrix).wrapping_offset(first_row as isize * a.row_stride);
            let b_ptr = b.matrix(&batch, matrix);
            // SAFETY: a_ptr/b_ptr address `rows`×k and k×n matrices inside the
            // operands' storage (kept alive by a_tensor/b_tensor), by the
            // strides ndarray reported; `chunk` is this task's own rows×n block of C.
            unsafe {
                kernel.sgemm(
                    rows, k, n, 1.0, a_ptr, a.row_stride, a.col_stride, b_ptr, b.row_stride, b.col_stride, 0.0,
                    chunk.as_mut_ptr(), n as isize, 1,
                );
            }
        };
        let task_len = rows_per_block * n;
        let tasks: Vec<(usize, &mut [f32])> = out
            .chunks_mut(m * n)
            .flat_map(|matrix| matrix.chunks_mut(task_len))
            .enumerate()
            .collect();
        if tasks.len() > 1 && flops * batch_count >= 2 * MIN_TASK_FLOPS {
            tasks.into_par_iter().for_each(run);
        } else {
            tasks.into_iter().for_each(run);
        }
        drop((a_tensor, b_tensor));
        Tensor::from_vec(out, &out_shape)
    }
}
