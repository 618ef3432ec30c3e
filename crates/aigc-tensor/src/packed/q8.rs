//! 8-bit weights and activations for decoding with a quarter of the f32
//! weight traffic, in the manner of llama.cpp's Q8_0 format.
//!
//! Both operands are cut into blocks of [`Q8_BLOCK`] inputs. Each block b of
//! a weight row o stores integers `q[o, p] ∈ [-127, 127]` and a scale
//! `d[o, b] = max|w| / 127`, so that `w ≈ d·q`. An activation row is
//! quantised the same way when the product runs, `x ≈ e·r`. A product then sums exact
//! integer dot products, one per block, and scales them in f32:
//!
//! ```text
//! y[o] = Σ_b (d[o, b]·e[b]) · Σ_{p in b} q[o, p]·r[p]        (b in order, FMA)
//! ```
//!
//! The per-block integer sums are exact, so the AVX-512 VNNI kernel, the
//! portable code and [`naive_q8_linear`](super::naive_q8_linear) give
//! bit-identical results.
//!
//! Layout: outputs in panels of [`PANEL`] = 64 (the last one zero-padded),
//! inputs padded with zeros to whole blocks. For each panel and block, the
//! 64 × 32 weights are stored as 8 steps of 4 inputs; a step holds, for
//! each group of 16 outputs, the 4 bytes of output 0, then of output 1, and
//! so on: the operand order of the VNNI instruction `vpdpbusd`, which adds 4
//! byte products into each 32-bit lane. That instruction multiplies unsigned
//! by signed bytes, so the weights are stored as `q + 128` and the excess
//! `128·Σ r` of each block is subtracted from its integer sum.

use super::{check_len, for_each_panel, matrix_dims, Isa, KernelKind, PANEL};
use crate::parallel::{SharedOutput, ThreadTeam};
use crate::error::{Error, Result};
use crate::Tensor;

/// Inputs per quantisation block, each with its own scale.
pub const Q8_BLOCK: usize = 32;

/// Outputs per group of one 512-bit register of 32-bit sums.
pub(crate) const GROUP: usize = 16;

/// Inputs per step of `vpdpbusd`: four bytes per 32-bit lane.
pub(crate) const STEP: usize = 4;

/// Bytes of one panel's weights for one block.
pub(crate) const PANEL_BLOCK_BYTES: usize = PANEL * Q8_BLOCK;

/// Quantises one block of up to [`Q8_BLOCK`] values: returns the scale
/// `max|v| / 127` and writes `round(v / scale)` (ties to even) into `out`,
/// zeros past `values.len()`. An all-zero block has scale 0. A block with a
/// NaN or infinite value gets a NaN scale and zeros, so products with it are
/// NaN, as they are in f32.
#[inline(always)]
pub(crate) fn quantize_block(values: &[f32], out: &mut [i8; Q8_BLOCK]) -> f32 {
    out.fill(0);
    let max = values.iter().fold(0.0f32, |max, v| max.max(v.abs()));
    if !values.iter().all(|v| v.is_finite()) {
        return f32::NAN;
    }
    let scale = max / 127.0;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    for (q, &v) in out.iter_mut().zip(values) {
        *q = (v * inverse).round_ties_even() as i8;
    }
    scale
}

/// [`quantize_block`] through the AVX2 code for whole blocks when the CPU
/// has it, with the same results: packing a model's weights calls it for
/// every block.
fn quantize_any_block(values: &[f32], out: &mut [i8; Q8_BLOCK]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if let (true, Ok(whole)) = (crate::simd::avx2_fma_available(), values.try_into()) {
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { super::q8_x86::quantize_whole_block(whole, out) }.0;
    }
    quantize_block(values, out)
}

/// Returns `128·Σ q`, what storing the weights as `q + 128` adds to a block's integer sum.
pub(crate) fn excess_of(block: &[i8; Q8_BLOCK]) -> i32 {
    128 * block.iter().map(|&q| q as i32).sum::<i32>()
}

/// Activations quantised in blocks of [`Q8_BLOCK`]: the right operand of
/// [`Q8Matrix::linear`]. Reusing one across calls reuses its buffers.
#[derive(Debug, Clone, Default)]
pub struct Q8Vector {
    /// `rows × blocks × Q8_BLOCK` integers, zero-padded per row.
    values: Vec<i8>,
    /// `rows × blocks` scales.
    scales: Vec<f32>,
    /// `rows × blocks` excesses `128·Σ r` of the unsigned weights.
    excess: Vec<i32>,
    rows: usize,
    inputs: usize,
}

impl Q8Vector {
    /// Returns an empty vector for [`Q8Vector::quantize`] to fill.
    pub fn new() -> Q8Vector {
        Q8Vector::default()
    }

    /// Quantises `rows` rows of `inputs` values (row-major), replacing the
    /// contents and keeping the buffers when they are large enough.
    pub fn quantize(&mut self, x: &[f32], rows: usize, inputs: usize) -> Result<()> {
        check_len("Q8Vector::quantize", "x", x.len(), rows, inputs)?;
        let blocks = inputs.div_ceil(Q8_BLOCK);
        self.values.resize(rows * blocks * Q8_BLOCK, 0);
        self.scales.resize(rows * blocks, 0.0);
        self.excess.resize(rows * blocks, 0);
        self.rows = rows;
        self.inputs = inputs;
        if inputs == 0 {
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2_fma_available() {
            // SAFETY: the CPU has AVX2 and FMA.
            unsafe { self.fill_avx2(x) };
            return Ok(());
        }
        self.fill(x);
        Ok(())
    }

    /// [`Q8Vector::fill`] with whole blocks quantised by AVX2 code.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fill_avx2(&mut self, x: &[f32]) {
        let blocks_of_x = x.chunks_exact(self.inputs).flat_map(|row| row.chunks(Q8_BLOCK));
        let targets = self.values.chunks_exact_mut(Q8_BLOCK).zip(self.scales.iter_mut()).zip(self.excess.iter_mut());
        for (values, ((out, scale), excess)) in blocks_of_x.zip(targets) {
            let block: &mut [i8; Q8_BLOCK] = out.try_into().expect("whole blocks");
            match values.try_into() {
                // SAFETY: the CPU has AVX2 and FMA.
                Ok(whole) => (*scale, *excess) = unsafe { super::q8_x86::quantize_whole_block(whole, block) },
                Err(_) => {
                    *scale = quantize_block(values, block);
                    *excess = excess_of(block);
                }
            }
        }
    }

    /// Quantises x into the buffers, already sized for it.
    fn fill(&mut self, x: &[f32]) {
        let blocks_of_x = x.chunks_exact(self.inputs).flat_map(|row| row.chunks(Q8_BLOCK));
        let targets = self.values.chunks_exact_mut(Q8_BLOCK).zip(self.scales.iter_mut()).zip(self.excess.iter_mut());
        for (values, ((out, scale), excess)) in blocks_of_x.zip(targets) {
            let block: &mut [i8; Q8_BLOCK] = out.try_into().expect("whole blocks");
            *scale = quantize_block(values, block);
            *excess = excess_of(block);
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of values per row, before padding.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    fn blocks(&self) -> usize {
        self.inputs.div_ceil(Q8_BLOCK)
    }

    /// Returns the quantised values of block `b` of row `row`, and its scale.
    pub(crate) fn block(&self, row: usize, b: usize) -> (&[i8], f32, i32) {
        let index = row * self.blocks() + b;
        (&self.values[index * Q8_BLOCK..(index + 1) * Q8_BLOCK], self.scales[index], self.excess[index])
    }
}

/// A weight matrix W `(out, in)` quantised to 8 bits in blocks of
/// [`Q8_BLOCK`] inputs, packed for [`Q8Matrix::linear`].
#[derive(Clone)]
pub struct Q8Matrix {
    /// Panels × blocks × [`PANEL_BLOCK_BYTES`] unsigned weights `q + 128`.
    weights: Vec<u8>,
    /// Panels × blocks × [`PANEL`] scales.
    scales: Vec<f32>,
    outputs: usize,
    inputs: usize,
}

impl std::fmt::Debug for Q8Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Q8Matrix").field("outputs", &self.outputs).field("inputs", &self.inputs).finish()
    }
}

impl Q8Matrix {
    /// Quantises and packs a 2-D weight `(out, in)`, as a linear layer stores it.
    pub fn quantize(weight: &Tensor) -> Result<Q8Matrix> {
        let (outputs, inputs) = matrix_dims("Q8Matrix::quantize", weight)?;
        Q8Matrix::from_rows(&weight.to_vec(), outputs, inputs)
    }

    /// Quantises and packs W from its row-major values, `outputs` rows of `inputs` each.
    pub fn from_rows(weight: &[f32], outputs: usize, inputs: usize) -> Result<Q8Matrix> {
        check_len("Q8Matrix::from_rows", "the weight", weight.len(), outputs, inputs)?;
        let (panels, blocks) = (outputs.div_ceil(PANEL), inputs.div_ceil(Q8_BLOCK));
        let mut weights = vec![128u8; panels * blocks * PANEL_BLOCK_BYTES];
        let mut scales = vec![0.0f32; panels * blocks * PANEL];
        let mut quantized = [0i8; Q8_BLOCK];
        for o in 0..outputs {
            let (panel, lane) = (o / PANEL, o % PANEL);
            let (group, lane_in_group) = (lane / GROUP, lane % GROUP);
            for b in 0..blocks {
                let values = &weight[o * inputs + b * Q8_BLOCK..o * inputs + ((b + 1) * Q8_BLOCK).min(inputs)];
                let record = panel * blocks + b;
                scales[record * PANEL + lane] = quantize_any_block(values, &mut quantized);
                let bytes = &mut weights[record * PANEL_BLOCK_BYTES..(record + 1) * PANEL_BLOCK_BYTES];
                for (p, &q) in quantized.iter().enumerate() {
                    let (step, within) = (p / STEP, p % STEP);
                    let at = step * PANEL * STEP + group * GROUP * STEP + lane_in_group * STEP + within;
                    bytes[at] = (q as i16 + 128) as u8;
                }
            }
        }
        Ok(Q8Matrix { weights, scales, outputs, inputs })
    }

    /// Number of outputs: W's rows.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Number of inputs: W's columns.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Bytes of weights and scales, the traffic of one product row.
    pub fn size_bytes(&self) -> usize {
        self.weights.len() + 4 * self.scales.len()
    }

    /// Returns the values W is rounded to, `d·q`, row-major `(out, in)`.
    pub fn dequantize(&self) -> Vec<f32> {
        let blocks = self.inputs.div_ceil(Q8_BLOCK);
        let mut values = vec![0.0f32; self.outputs * self.inputs];
        for (o, row) in values.chunks_exact_mut(self.inputs.max(1)).take(self.outputs).enumerate() {
            let (panel, lane) = (o / PANEL, o % PANEL);
            let (group, lane_in_group) = (lane / GROUP, lane % GROUP);
            for (p, value) in row.iter_mut().enumerate() {
                let record = (panel * blocks + p / Q8_BLOCK) * PANEL_BLOCK_BYTES;
                let (step, within) = ((p % Q8_BLOCK) / STEP, p % STEP);
                let byte = self.weights[record + step * PANEL * STEP + group * GROUP * STEP + lane_in_group * STEP + within];
                let scale = self.scales[(panel * blocks + p / Q8_BLOCK) * PANEL + lane];
                *value = scale * (byte as i32 - 128) as f32;
            }
        }
        values
    }

    /// Computes `y = x·Wᵀ` for every row of the quantised x into y `(rows, out)`,
    /// on the calling thread.
    ///
    /// Fails when x's row length is not W's input count or y's length does not fit.
    pub fn linear(&self, x: &Q8Vector, y: &mut [f32]) -> Result<()> {
        self.linear_with(Isa::detect(KernelKind::Q8), None, x, y)
    }

    /// [`Q8Matrix::linear`] with the panels split across `team`'s threads
    /// when the product is large enough to gain from it. The results are
    /// the same bit for bit.
    pub fn linear_on(&self, team: &ThreadTeam, x: &Q8Vector, y: &mut [f32]) -> Result<()> {
        self.linear_with(Isa::detect(KernelKind::Q8), Some(team), x, y)
    }

    pub(crate) fn linear_with(&self, isa: Isa, team: Option<&ThreadTeam>, x: &Q8Vector, y: &mut [f32]) -> Result<()> {
        const OP: &str = "Q8Matrix::linear";
        if x.inputs != self.inputs {
            return Err(Error::invalid(OP, format!("x has rows of {} values, but W takes {} inputs", x.inputs, self.inputs)));
        }
        check_len(OP, "y", y.len(), x.rows, self.outputs)?;
        if x.rows == 0 || self.outputs == 0 {
            return Ok(());
        }
        let y = SharedOutput::new(y);
        let work = x.rows * self.inputs * self.outputs;
        for_each_panel(team, self.outputs.div_ceil(PANEL), work, |panel| {
            // SAFETY: y contains rows × outputs floats (checked above), and
            // each panel writes only its own columns.
            unsafe { self.panel(isa, x, panel, y.get()) };
        });
        Ok(())
    }

    /// Computes panel `panel`'s outputs for every row of x.
    ///
    /// # Safety
    /// y points to `x.rows × outputs` floats, writable in this panel's columns.
    unsafe fn panel(&self, isa: Isa, x: &Q8Vector, panel: usize, y: *mut f32) {
        let blocks = x.blocks();
        let first_output = panel * PANEL;
        let columns = PANEL.min(self.outputs - first_output);
        let weights = &self.weights[panel * blocks * PANEL_BLOCK_BYTES..(panel + 1) * blocks * PANEL_BLOCK_BYTES];
        let scales = &self.scales[panel * blocks * PANEL..(panel + 1) * blocks * PANEL];
        for row in 0..x.rows {
            let mut sums = [0.0f32; PANEL];
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: VNNI was detected, and the slices hold `blocks` records.
                Isa::Avx512 => unsafe { super::q8_x86::panel_row_vnni(x, row, blocks, weights, scales, &mut sums) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX2 and FMA were detected.
                Isa::Avx2 => unsafe { super::q8_x86::panel_row_avx2(x, row, blocks, weights, scales, &mut sums) },
                _ => panel_row(x, row, blocks, weights, scales, &mut sums),
            }
            for (c, &sum) in sums[..columns].iter().enumerate() {
                // SAFETY: row < rows and first_output + c < outputs.
                unsafe { *y.add(row * self.outputs + first_output + c) = sum };
            }
        }
    }
}

/// Computes one row's 64 sums of one panel with plain integer loops.
#[inline(always)]
pub(crate) fn panel_row(x: &Q8Vector, row: usize, blocks: usize, weights: &[u8], scales: &[f32], sums: &mut [f32; PANEL]) {
    for b in 0..blocks {
        let (values, x_scale, excess) = x.block(row, b);
        let bytes = &weights[b * PANEL_BLOCK_BYTES..(b + 1) * PANEL_BLOCK_BYTES];
        let mut integer = [0i32; PANEL];
        for (step, x_step) in values.chunks_exact(STEP).enumerate() {
            let step_bytes = &bytes[step * PANEL * STEP..(step + 1) * PANEL * STEP];
            for (sum, w) in integer.iter_mut().zip(step_bytes.chunks_exact(STEP)) {
                for (&w, &r) in w.iter().zip(x_step) {
                    *sum += w as i32 * r as i32;
                }
            }
        }
        for ((sum, &integer), &w_scale) in sums.iter_mut().zip(&integer).zip(&scales[b * PANEL..(b + 1) * PANEL]) {
            *sum = ((integer - excess) as f32).mul_add(w_scale * x_scale, *sum);
        }
    }
}
