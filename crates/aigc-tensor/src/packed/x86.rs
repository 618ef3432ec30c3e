//! The [`PackedMatrix`](super::PackedMatrix) panel kernels with AVX2 + FMA
//! and with AVX-512.
//!
//! A tile of R rows × L lanes of one panel keeps its running sums in
//! registers while the inputs of one depth block stream by: per input, L
//! weights are loaded once and used for all R rows. Each lane is one output's
//! sequential FMA chain, so the tile shape changes no rounding.
// Some `unsafe` blocks also wrap intrinsics that are safe inside
// `#[target_feature]` functions, so that each block reads as one step.
#![allow(unused_unsafe)]

use super::{Isa, PanelShape, PANEL};

/// Computes one panel's outputs for `rows` rows of x.
///
/// # Safety
/// `isa` is available on this CPU and is not [`Isa::Portable`]; x contains
/// `rows × shape.inputs` floats, w contains `shape.inputs × PANEL`, and y points
/// to `rows × shape.outputs` floats writable in this panel's columns.
pub(super) unsafe fn panel(isa: Isa, shape: PanelShape, x: *const f32, rows: usize, w: *const f32, y: *mut f32) {
    match isa {
        // SAFETY: forwarded contract.
        Isa::Avx512 => unsafe { avx512::panel(shape, x, rows, w, y) },
        // SAFETY: forwarded contract; AVX2 and FMA come with every CPU that has AVX-512.
        _ => unsafe { avx2::panel(shape, x, rows, w, y) },
    }
}

/// Writes or adds one tile row's `lanes` sums, of which the first `valid`
/// are real outputs, at `y`: the first depth block writes, later ones add.
///
/// # Safety
/// `y..y + valid` is valid for reads and writes.
#[inline(always)]
unsafe fn store_sums(sums: &[f32], valid: usize, y: *mut f32, first_block: bool) {
    for (lane, &sum) in sums[..valid].iter().enumerate() {
        // SAFETY: lane < valid.
        unsafe {
            let out = y.add(lane);
            *out = if first_block { sum } else { sum + *out };
        }
    }
}

mod avx2 {
    use std::arch::x86_64::*;

    use super::{store_sums, PanelShape, PANEL};

    /// [`super::panel`] with AVX2: four rows at a time in tiles of 16 lanes,
    /// then one row at a time across the whole panel.
    ///
    /// # Safety
    /// As for [`super::panel`], on a CPU with AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel(shape: PanelShape, x: *const f32, rows: usize, w: *const f32, y: *mut f32) {
        let mut row = 0;
        while row + 4 <= rows {
            for first_lane in (0..PANEL).step_by(16) {
                // SAFETY: rows row..row + 4 lie inside x and y.
                unsafe { tile::<4, 2>(shape, x.add(row * shape.inputs), w, y.add(row * shape.outputs), first_lane) };
            }
            row += 4;
        }
        for row in row..rows {
            // SAFETY: the row lies inside x and y.
            unsafe { tile::<1, 8>(shape, x.add(row * shape.inputs), w, y.add(row * shape.outputs), 0) };
        }
    }

    /// Computes `R` rows × `8·V` lanes from `first_lane` on.
    ///
    /// # Safety
    /// As for [`panel`], for the R rows at x and y.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize, const V: usize>(shape: PanelShape, x: *const f32, w: *const f32, y: *mut f32, first_lane: usize) {
        let valid = shape.columns.saturating_sub(first_lane).min(8 * V);
        if valid == 0 {
            return;
        }
        let y = y.wrapping_add(shape.first_output + first_lane);
        for first in (0..shape.inputs).step_by(shape.depth) {
            let last = (first + shape.depth).min(shape.inputs);
            // SAFETY: the CPU has AVX.
            let mut acc = unsafe { [[_mm256_setzero_ps(); V]; R] };
            for p in first..last {
                // SAFETY: p < inputs, so the panel's row p and x's element p lie inside their buffers.
                unsafe {
                    let w_row = w.add(p * PANEL + first_lane);
                    let mut weights = [_mm256_setzero_ps(); V];
                    for (v, weight) in weights.iter_mut().enumerate() {
                        *weight = _mm256_loadu_ps(w_row.add(8 * v));
                    }
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let x_p = _mm256_broadcast_ss(&*x.add(r * shape.inputs + p));
                        for (sum, &weight) in acc.iter_mut().zip(&weights) {
                            *sum = _mm256_fmadd_ps(x_p, weight, *sum);
                        }
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let y_row = y.wrapping_add(r * shape.outputs);
                if valid == 8 * V {
                    for (v, &sum) in acc.iter().enumerate() {
                        // SAFETY: all 8·V outputs of the tile's row r lie inside y.
                        unsafe {
                            let out = y_row.add(8 * v);
                            let value = if first == 0 { sum } else { _mm256_add_ps(sum, _mm256_loadu_ps(out)) };
                            _mm256_storeu_ps(out, value);
                        }
                    }
                    continue;
                }
                let mut sums = [0.0f32; PANEL];
                for (v, sum) in acc.iter().enumerate() {
                    // SAFETY: `sums` has room for 8·V ≤ PANEL floats.
                    unsafe { _mm256_storeu_ps(sums.as_mut_ptr().add(8 * v), *sum) };
                }
                // SAFETY: the tile's `valid` outputs of row r lie inside y.
                unsafe { store_sums(&sums, valid, y_row, first == 0) };
            }
        }
    }
}

mod avx512 {
    use std::arch::x86_64::*;

    use super::{store_sums, PanelShape, PANEL};

    /// [`super::panel`] with AVX-512: four rows at a time, then one, each
    /// tile across the whole panel (4 registers of 16 lanes per row).
    ///
    /// # Safety
    /// As for [`super::panel`], on a CPU with AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn panel(shape: PanelShape, x: *const f32, rows: usize, w: *const f32, y: *mut f32) {
        let mut row = 0;
        while row + 4 <= rows {
            // SAFETY: rows row..row + 4 lie inside x and y.
            unsafe { tile::<4>(shape, x.add(row * shape.inputs), w, y.add(row * shape.outputs)) };
            row += 4;
        }
        for row in row..rows {
            // SAFETY: the row lies inside x and y.
            unsafe { tile::<1>(shape, x.add(row * shape.inputs), w, y.add(row * shape.outputs)) };
        }
    }

    /// Computes `R` rows × the whole panel.
    ///
    /// # Safety
    /// As for [`panel`], for the R rows at x and y.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize>(shape: PanelShape, x: *const f32, w: *const f32, y: *mut f32) {
        const V: usize = PANEL / 16;
        let y = y.wrapping_add(shape.first_output);
        for first in (0..shape.inputs).step_by(shape.depth) {
            let last = (first + shape.depth).min(shape.inputs);
            // SAFETY: the CPU has AVX-512F.
            let mut acc = unsafe { [[_mm512_setzero_ps(); V]; R] };
            for p in first..last {
                // SAFETY: p < inputs, so the panel's row p and x's element p lie inside their buffers.
                unsafe {
                    let w_row = w.add(p * PANEL);
                    let mut weights = [_mm512_setzero_ps(); V];
                    for (v, weight) in weights.iter_mut().enumerate() {
                        *weight = _mm512_loadu_ps(w_row.add(16 * v));
                    }
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let x_p = _mm512_set1_ps(*x.add(r * shape.inputs + p));
                        for (sum, &weight) in acc.iter_mut().zip(&weights) {
                            *sum = _mm512_fmadd_ps(x_p, weight, *sum);
                        }
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let y_row = y.wrapping_add(r * shape.outputs);
                if shape.columns == PANEL {
                    for (v, &sum) in acc.iter().enumerate() {
                        // SAFETY: all PANEL outputs of row r lie inside y.
                        unsafe {
                            let out = y_row.add(16 * v);
                            let value = if first == 0 { sum } else { _mm512_add_ps(sum, _mm512_loadu_ps(out)) };
                            _mm512_storeu_ps(out, value);
                        }
                    }
                    continue;
                }
                let mut sums = [0.0f32; PANEL];
                for (v, sum) in acc.iter().enumerate() {
                    // SAFETY: `sums` has room for 16·V = PANEL floats.
                    unsafe { _mm512_storeu_ps(sums.as_mut_ptr().add(16 * v), *sum) };
                }
                // SAFETY: the panel's `columns` outputs of row r lie inside y.
                unsafe { store_sums(&sums, shape.columns, y_row, first == 0) };
            }
        }
    }
}
