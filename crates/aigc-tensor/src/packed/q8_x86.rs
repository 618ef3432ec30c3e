//! The [`Q8Matrix`](super::Q8Matrix) kernels for x86-64: AVX-512 VNNI, and
//! AVX2 + FMA for CPUs without VNNI.
// Some `unsafe` blocks also wrap intrinsics that are safe inside
// `#[target_feature]` functions, so that each block reads as one step.
#![allow(unused_unsafe)]

use std::arch::x86_64::*;

use super::q8::{panel_row, Q8Vector, Q8_BLOCK};
use super::PANEL;

/// [`quantize_block`](super::q8::quantize_block) for a whole block with
/// AVX2, with the same results; also returns the block's excess
/// ([`excess_of`](super::q8::excess_of)).
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn quantize_whole_block(values: &[f32; Q8_BLOCK], out: &mut [i8; Q8_BLOCK]) -> (f32, i32) {
    // SAFETY: the loads read the 32 floats of `values`, the store writes the 32 bytes of `out`.
    unsafe {
        let sign = _mm256_set1_ps(-0.0);
        let v = [0, 8, 16, 24].map(|at| _mm256_loadu_ps(values.as_ptr().add(at)));
        let magnitude = v.map(|v| _mm256_andnot_ps(sign, v));
        // An ordered "less than infinity" is false for NaN and ±∞.
        let finite = magnitude.map(|m| _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(m, _mm256_set1_ps(f32::INFINITY))));
        if finite.iter().any(|&mask| mask != 0xff) {
            out.fill(0);
            return (f32::NAN, 0);
        }
        let max = _mm256_max_ps(_mm256_max_ps(magnitude[0], magnitude[1]), _mm256_max_ps(magnitude[2], magnitude[3]));
        let max = _mm_max_ps(_mm256_castps256_ps128(max), _mm256_extractf128_ps::<1>(max));
        let max = _mm_max_ps(max, _mm_movehl_ps(max, max));
        let max = _mm_cvtss_f32(_mm_max_ss(max, _mm_shuffle_ps::<0b01>(max, max)));
        let scale = max / 127.0;
        let inverse = _mm256_set1_ps(if scale > 0.0 { 1.0 / scale } else { 0.0 });
        // Converting rounds to nearest, ties to even (the default MXCSR mode).
        let q = v.map(|v| _mm256_cvtps_epi32(_mm256_mul_ps(v, inverse)));
        let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        let sum = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256::<1>(sum));
        let sum = _mm_add_epi32(sum, _mm_unpackhi_epi64(sum, sum));
        let sum = _mm_cvtsi128_si32(_mm_add_epi32(sum, _mm_shuffle_epi32::<0b01>(sum)));
        // The packs interleave 128-bit halves; the permutation restores the order.
        let words = [_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3])];
        let bytes = _mm256_packs_epi16(words[0], words[1]);
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(out.as_mut_ptr().cast(), bytes);
        (scale, 128 * sum)
    }
}

/// [`panel_row`](super::q8::panel_row) compiled for AVX2 + FMA, which the
/// compiler vectorises.
///
/// # Safety
/// The CPU has AVX2 and FMA; the slices contain `blocks` records of the panel.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn panel_row_avx2(x: &Q8Vector, row: usize, blocks: usize, weights: &[u8], scales: &[f32], sums: &mut [f32; PANEL]) {
    panel_row(x, row, blocks, weights, scales, sums)
}

/// Computes one row's 64 sums of one panel with `vpdpbusd`: per step of 4
/// inputs, four 512-bit loads of weights (16 outputs × 4 bytes each) against
/// the step's 4 activation bytes broadcast to every lane.
///
/// # Safety
/// The CPU has AVX-512F, AVX-512BW and AVX-512 VNNI; `weights` contains
/// `blocks` records of [`PANEL_BLOCK_BYTES`](super::q8::PANEL_BLOCK_BYTES)
/// and `scales` `blocks` records of [`PANEL`].
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn panel_row_vnni(x: &Q8Vector, row: usize, blocks: usize, weights: &[u8], scales: &[f32], sums: &mut [f32; PANEL]) {
    use super::q8::{GROUP, PANEL_BLOCK_BYTES, STEP};
    const GROUPS: usize = PANEL / GROUP;

    assert!(weights.len() >= blocks * PANEL_BLOCK_BYTES, "panel_row_vnni: too few weights");
    assert!(scales.len() >= blocks * PANEL, "panel_row_vnni: too few scales");
    // SAFETY: the CPU has AVX-512F.
    let mut acc = unsafe { [_mm512_setzero_ps(); GROUPS] };
    for b in 0..blocks {
        let (values, x_scale, excess) = x.block(row, b);
        let bytes = weights[b * PANEL_BLOCK_BYTES..].as_ptr();
        // SAFETY: the CPU has AVX-512F.
        let mut integer = unsafe { [_mm512_setzero_si512(); GROUPS] };
        for step in 0..Q8_BLOCK / STEP {
            // SAFETY: `values` contains Q8_BLOCK bytes, and the block's record
            // PANEL_BLOCK_BYTES = (Q8_BLOCK / STEP) × GROUPS × 64 bytes.
            unsafe {
                let x_step = _mm512_set1_epi32(values.as_ptr().add(step * STEP).cast::<i32>().read_unaligned());
                for (g, integer) in integer.iter_mut().enumerate() {
                    let w = _mm512_loadu_si512(bytes.add((step * GROUPS + g) * 64).cast());
                    *integer = _mm512_dpbusd_epi32(*integer, w, x_step);
                }
            }
        }
        // SAFETY: the block's PANEL scales lie inside `scales`.
        unsafe {
            let excess = _mm512_set1_epi32(excess);
            let x_scale = _mm512_set1_ps(x_scale);
            for (g, (acc, &integer)) in acc.iter_mut().zip(&integer).enumerate() {
                let exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(integer, excess));
                let scale = _mm512_mul_ps(_mm512_loadu_ps(scales.as_ptr().add(b * PANEL + g * GROUP)), x_scale);
                *acc = _mm512_fmadd_ps(exact, scale, *acc);
            }
        }
    }
    for (g, acc) in acc.iter().enumerate() {
        // SAFETY: `sums` has room for GROUPS × GROUP floats.
        unsafe { _mm512_storeu_ps(sums.as_mut_ptr().add(g * GROUP), *acc) };
    }
}
