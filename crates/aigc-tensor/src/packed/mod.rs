//! Weight matrices packed once for many products with a few rows: the
//! linear layers of token-by-token decoding.
//!
//! A linear layer computes `y = x·Wᵀ` with W of shape `(out, in)`. When x
//! has one row, every weight is read once per product, so the product is
//! bound by how fast the weights stream from memory, not by FMAs. Packing
//! lays W out in the order the kernel reads it, one contiguous stream:
//!
//! ```text
//! [`PackedMatrix`]   panels of PANEL = 64 outputs: for each panel, for each input p,
//!                    the panel's 64 weights of input p (the last panel zero-padded)
//! [`Q8Matrix`]       8-bit weights with one f32 scale per block of 32 inputs
//! ```
//!
//! [`PackedMatrix::linear`] rounds every output exactly as the AVX2 GEMM
//! kernel does ([`crate::gemm::Avx2Kernel`]), so it is a drop-in
//! replacement: bit-identical results, with AVX-512, AVX2 or portable code
//! alike. [`naive_linear`] is the reference the tests compare it against.
//!
//! ```
//! use aigc_tensor::packed::PackedMatrix;
//! use aigc_tensor::Tensor;
//! // W: 2 outputs × 3 inputs
//! let w = Tensor::from_vec(vec![1.0, 0.0, 2.0, 0.0, 1.0, -1.0], &[2, 3])?;
//! let packed = PackedMatrix::pack(&w)?;
//! let mut y = [0.0; 2];
//! packed.linear(&[1.0, 2.0, 3.0], 1, &mut y)?;   // y = x·Wᵀ
//! assert_eq!(y, [7.0, -1.0]);
//! # Ok::<(), aigc_tensor::Error>(())
//! ```
#![warn(unsafe_op_in_unsafe_fn)]

mod naive;
mod q8;
#[cfg(target_arch = "x86_64")]
mod q8_x86;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use naive::{naive_linear, naive_q8_linear};
pub use q8::{Q8Matrix, Q8Vector, Q8_BLOCK};

use crate::error::{Error, Result};
use crate::gemm::depth_block;
use crate::parallel::{SharedOutput, ThreadTeam};
use crate::Tensor;

/// Outputs per panel of a [`PackedMatrix`]: eight AVX2 or four AVX-512
/// registers of running sums, enough independent FMA chains to hide the
/// FMA latency on one row.
pub const PANEL: usize = 64;

/// The instruction set a kernel runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512 (F and BW; VNNI too for the 8-bit kernels).
    Avx512,
    /// AVX2 and FMA.
    Avx2,
    /// Plain Rust.
    Portable,
}

impl Isa {
    /// Returns the widest instruction set this CPU offers for `kind`.
    pub(crate) fn detect(kind: KernelKind) -> Isa {
        [Isa::Avx512, Isa::Avx2].into_iter().find(|isa| isa.available(kind)).unwrap_or(Isa::Portable)
    }

    /// Returns whether this CPU (and this build) runs `kind` with this instruction set.
    pub(crate) fn available(self, kind: KernelKind) -> bool {
        match self {
            Isa::Portable => true,
            Isa::Avx2 => crate::simd::avx2_fma_available(),
            Isa::Avx512 => avx512_available(kind),
        }
    }
}

/// The family of a kernel, which decides the AVX-512 features it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KernelKind {
    F32,
    Q8,
}

#[cfg(target_arch = "x86_64")]
fn avx512_available(kind: KernelKind) -> bool {
    use std::arch::is_x86_feature_detected;
    let base = is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw");
    match kind {
        KernelKind::F32 => base,
        KernelKind::Q8 => base && is_x86_feature_detected!("avx512vnni"),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_available(_kind: KernelKind) -> bool {
    false
}

/// A weight matrix W `(out, in)` packed in panels of [`PANEL`] outputs for
/// [`PackedMatrix::linear`].
#[derive(Clone)]
pub struct PackedMatrix {
    /// `out.div_ceil(PANEL)` panels of `in × PANEL` floats.
    data: Vec<f32>,
    outputs: usize,
    inputs: usize,
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedMatrix").field("outputs", &self.outputs).field("inputs", &self.inputs).finish()
    }
}

impl PackedMatrix {
    /// Packs a 2-D weight `(out, in)`, as a linear layer stores it.
    pub fn pack(weight: &Tensor) -> Result<PackedMatrix> {
        let (outputs, inputs) = matrix_dims("PackedMatrix::pack", weight)?;
        PackedMatrix::from_rows(&weight.to_vec(), outputs, inputs)
    }

    /// Packs W from its row-major values, `outputs` rows of `inputs` each.
    pub fn from_rows(weight: &[f32], outputs: usize, inputs: usize) -> Result<PackedMatrix> {
        check_len("PackedMatrix::from_rows", "the weight", weight.len(), outputs, inputs)?;
        let panels = outputs.div_ceil(PANEL);
        let mut data = vec![0.0f32; panels * PANEL * inputs];
        if inputs > 0 {
            for (o, row) in weight.chunks_exact(inputs).enumerate() {
                let (panel, lane) = (o / PANEL, o % PANEL);
                let panel_data = &mut data[panel * PANEL * inputs..(panel + 1) * PANEL * inputs];
                for (p, &w) in row.iter().enumerate() {
                    panel_data[p * PANEL + lane] = w;
                }
            }
        }
        Ok(PackedMatrix { data, outputs, inputs })
    }

    /// Number of outputs: W's rows.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Number of inputs: W's columns.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Computes `y = x·Wᵀ` for `rows` rows of x `(rows, in)` into y
    /// `(rows, out)`, both row-major. Every y is overwritten, zeros when
    /// `in = 0`.
    ///
    /// Each output is rounded like the AVX2 GEMM kernel's: a sequential FMA
    /// chain over each block of inputs, the blocks' sums added in order.
    /// Runs on the calling thread, like a [`crate::gemm::GemmKernel`].
    pub fn linear(&self, x: &[f32], rows: usize, y: &mut [f32]) -> Result<()> {
        self.linear_with(Isa::detect(KernelKind::F32), None, x, rows, y)
    }

    /// [`PackedMatrix::linear`] with the panels split across `team`'s
    /// threads when the product is large enough to gain from it. Every
    /// output is computed as on one thread, so the results are the same bit
    /// for bit.
    pub fn linear_on(&self, team: &ThreadTeam, x: &[f32], rows: usize, y: &mut [f32]) -> Result<()> {
        self.linear_with(Isa::detect(KernelKind::F32), Some(team), x, rows, y)
    }

    pub(crate) fn linear_with(&self, isa: Isa, team: Option<&ThreadTeam>, x: &[f32], rows: usize, y: &mut [f32]) -> Result<()> {
        const OP: &str = "PackedMatrix::linear";
        check_len(OP, "x", x.len(), rows, self.inputs)?;
        check_len(OP, "y", y.len(), rows, self.outputs)?;
        if rows == 0 || self.outputs == 0 {
            return Ok(());
        }
        if self.inputs == 0 {
            y.fill(0.0);
            return Ok(());
        }
        let depth = depth_block(self.inputs);
        let y = SharedOutput::new(y);
        let panels = self.outputs.div_ceil(PANEL);
        let work = rows * self.inputs * self.outputs;
        for_each_panel(team, panels, work, |panel| {
            let weights = &self.data[panel * PANEL * self.inputs..(panel + 1) * PANEL * self.inputs];
            let first_output = panel * PANEL;
            let columns = PANEL.min(self.outputs - first_output);
            let shape = PanelShape { inputs: self.inputs, depth, outputs: self.outputs, first_output, columns };
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 | Isa::Avx2 => {
                    // SAFETY: `isa` is available, x and y have the lengths checked
                    // above, the panel contains inputs × PANEL floats, and each
                    // panel writes only its own columns of y.
                    unsafe { x86::panel(isa, shape, x.as_ptr(), rows, weights.as_ptr(), y.get()) };
                }
                _ => {
                    // SAFETY: x and y have the lengths checked above, and each
                    // panel writes only its own columns of y.
                    unsafe { portable_panel(shape, x, rows, weights, y.get()) };
                }
            }
        });
        Ok(())
    }
}

/// Runs `panel(p)` for each of `panels` panels: on `team` when there is one
/// and a product of `work` multiply-adds is worth splitting there, else on
/// the calling thread in order.
fn for_each_panel(team: Option<&ThreadTeam>, panels: usize, work: usize, panel: impl Fn(usize) + Sync) {
    match team {
        Some(team) if panels > 1 && team.worth_splitting(work) => team.run(panels, &panel),
        _ => (0..panels).for_each(panel),
    }
}

/// The place of one panel's products in y: columns
/// `first_output..first_output + columns` of rows of `outputs` floats.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PanelShape {
    pub inputs: usize,
    /// Inputs per block of sequential FMAs ([`depth_block`]).
    pub depth: usize,
    pub outputs: usize,
    pub first_output: usize,
    pub columns: usize,
}

/// Computes one panel's outputs for every row of x with scalar FMAs.
///
/// # Safety
/// y points to `rows × shape.outputs` writable floats, and x contains
/// `rows × shape.inputs`.
unsafe fn portable_panel(shape: PanelShape, x: &[f32], rows: usize, weights: &[f32], y: *mut f32) {
    let inputs = shape.inputs;
    for r in 0..rows {
        let x_row = &x[r * inputs..(r + 1) * inputs];
        let mut total = [0.0f32; PANEL];
        for first in (0..inputs).step_by(shape.depth) {
            let mut sums = [0.0f32; PANEL];
            for (p, &x_p) in x_row.iter().enumerate().skip(first).take(shape.depth) {
                for (sum, &w) in sums.iter_mut().zip(&weights[p * PANEL..(p + 1) * PANEL]) {
                    *sum = x_p.mul_add(w, *sum);
                }
            }
            for (t, s) in total.iter_mut().zip(sums) {
                *t = if first == 0 { s } else { s + *t };
            }
        }
        for (c, &t) in total[..shape.columns].iter().enumerate() {
            // SAFETY: row r < rows and column first_output + c < outputs.
            unsafe { *y.add(r * shape.outputs + shape.first_output + c) = t };
        }
    }
}

/// Returns `(rows, columns)` of a 2-D tensor, or an error naming `op`.
fn matrix_dims(op: &'static str, weight: &Tensor) -> Result<(usize, usize)> {
    match *weight.shape() {
        [rows, columns] => Ok((rows, columns)),
        _ => Err(Error::invalid(op, format!("the weight must be 2-D (out, in), got shape {:?}", weight.shape()))),
    }
}

/// Checks that a buffer holds `rows × columns` values.
fn check_len(op: &'static str, name: &str, len: usize, rows: usize, columns: usize) -> Result<()> {
    if len == rows * columns {
        return Ok(());
    }
    Err(Error::invalid(op, format!("{name} has {len} values, expected {rows} × {columns} = {}", rows * columns)))
}

#[cfg(test)]
mod tests;
