//! Plain-loop references for the packed products, on unpacked row-major
//! weights, with the same rounding as the fast kernels.

use super::q8::{quantize_block, Q8_BLOCK};
use super::check_len;
use crate::error::Result;
use crate::gemm::depth_block;

/// Computes `y = x·Wᵀ` for W `(outputs, inputs)` and x `(rows, inputs)`,
/// row-major, as [`PackedMatrix::linear`](super::PackedMatrix::linear)
/// rounds it: per output, a sequential FMA chain over each depth block, the
/// blocks' sums added in order.
pub fn naive_linear(weight: &[f32], outputs: usize, inputs: usize, x: &[f32], rows: usize, y: &mut [f32]) -> Result<()> {
    const OP: &str = "naive_linear";
    check_len(OP, "the weight", weight.len(), outputs, inputs)?;
    check_len(OP, "x", x.len(), rows, inputs)?;
    check_len(OP, "y", y.len(), rows, outputs)?;
    if inputs == 0 {
        y.fill(0.0);
        return Ok(());
    }
    let depth = depth_block(inputs);
    for r in 0..rows {
        let x_row = &x[r * inputs..(r + 1) * inputs];
        for o in 0..outputs {
            let w_row = &weight[o * inputs..(o + 1) * inputs];
            let mut total = 0.0f32;
            for (block, (x_block, w_block)) in x_row.chunks(depth).zip(w_row.chunks(depth)).enumerate() {
                let sum = x_block.iter().zip(w_block).fold(0.0f32, |sum, (&x, &w)| x.mul_add(w, sum));
                total = if block == 0 { sum } else { sum + total };
            }
            y[r * outputs + o] = total;
        }
    }
    Ok(())
}

/// Computes `y ≈ x·Wᵀ` as [`Q8Matrix::linear`](super::Q8Matrix::linear)
/// does: W and x quantised in blocks of [`Q8_BLOCK`], exact integer dot
/// products per block, scaled and summed over the blocks in order.
pub fn naive_q8_linear(weight: &[f32], outputs: usize, inputs: usize, x: &[f32], rows: usize, y: &mut [f32]) -> Result<()> {
    const OP: &str = "naive_q8_linear";
    check_len(OP, "the weight", weight.len(), outputs, inputs)?;
    check_len(OP, "x", x.len(), rows, inputs)?;
    check_len(OP, "y", y.len(), rows, outputs)?;
    let (mut w_block, mut x_block) = ([0i8; Q8_BLOCK], [0i8; Q8_BLOCK]);
    for r in 0..rows {
        let x_row = &x[r * inputs..(r + 1) * inputs];
        for o in 0..outputs {
            let w_row = &weight[o * inputs..(o + 1) * inputs];
            let mut total = 0.0f32;
            for (x_values, w_values) in x_row.chunks(Q8_BLOCK).zip(w_row.chunks(Q8_BLOCK)) {
                let x_scale = quantize_block(x_values, &mut x_block);
                let w_scale = quantize_block(w_values, &mut w_block);
                let integer: i32 = x_block.iter().zip(&w_block).map(|(&x, &w)| x as i32 * w as i32).sum();
                total = (integer as f32).mul_add(w_scale * x_scale, total);
            }
            y[r * outputs + o] = total;
        }
    }
    Ok(())
}
