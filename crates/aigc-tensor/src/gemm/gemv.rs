//! Vector × matrix products (`m = 1` or `n = 1`) without packing.
//!
//! With a single row of A, packing B would copy all of it only to read it
//! once, so these loops read B in place instead. They cover the
//! token-by-token decoding products (`(1, C) · (C, 3C)`, `q · Kᵀ`, the LM
//! head `x · Wᵀ`), which are bound by memory bandwidth, not FMAs.
//!
//! Every output is rounded exactly as the blocked loops round it: a
//! sequential FMA chain over each block of `kc` steps, then `α·sum + β·y`.
//! So a product gives the same bits whether it runs here or in the blocked
//! loops, which keeps `matmul` independent of how it splits rows between
//! threads (a split can leave a block of one row).
#![warn(unsafe_op_in_unsafe_fn)]
// Intrinsics without pointer arguments are safe to call inside
// `#[target_feature]` functions only from Rust 1.87 on. They sit in `unsafe`
// blocks here so the crate still builds on its declared rust-version, 1.80.
#![allow(unused_unsafe)]

use core::arch::x86_64::*;

use super::transpose::transpose;

/// Returns whether [`gemv`] accepts x and B with these strides: B's rows
/// must be contiguous, or else both B's columns and x.
pub(super) fn supports(incx: isize, row_stride: isize, col_stride: isize) -> bool {
    col_stride == 1 || (row_stride == 1 && incx == 1)
}

/// Computes `y ← α·xᵀ·B + β·y` for a vector `x` of length `k` and a `k × n`
/// matrix B with [`supports`]`(incx, rsb, csb)`, in blocks of `kc_max`
/// steps. With `beta == 0`, y is never read.
///
/// # Safety
/// The CPU supports AVX2 and FMA, and `kc_max > 0`. For `p < k` and
/// `j < n`, `x + p·incx` and `b + p·rsb + j·csb` are valid for reads and
/// `y + j·incy` for reads and writes, and y overlaps neither x nor B.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemv(
    k: usize,
    kc_max: usize,
    n: usize,
    alpha: f32,
    x: *const f32,
    incx: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    y: *mut f32,
    incy: isize,
) {
    for pc in (0..k).step_by(kc_max) {
        let kc = kc_max.min(k - pc);
        // As in the blocked loops: the caller's β for the first block, then
        // each block's product is added to y.
        let beta_block = if pc == 0 { beta } else { 1.0 };
        let update = |j: usize, sum: f32| {
            // SAFETY: callers pass j < n, and y + j·incy is valid by the contract.
            unsafe {
                let out = y.offset(j as isize * incy);
                let product = alpha * sum;
                *out = if beta_block == 0.0 { product } else { product + beta_block * *out };
            }
        };
        let x_block = x.wrapping_offset(pc as isize * incx);
        let b_block = b.wrapping_offset(pc as isize * rsb);
        if csb == 1 {
            // SAFETY: forwarded contract for steps pc..pc + kc, with B's rows contiguous.
            unsafe { rows_contiguous(kc, n, x_block, incx, b_block, rsb, update) };
        } else {
            debug_assert!(rsb == 1 && incx == 1, "gemv needs contiguous columns and x");
            // SAFETY: forwarded contract for steps pc..pc + kc, with B's columns and x contiguous.
            unsafe { columns_contiguous(kc, n, x_block, b_block, csb, update) };
        }
    }
}

/// Computes `xᵀ·B` for row-major B: each step adds `x[p]·B[p, j..j + w]` to `w`
/// column sums held in registers, for blocks of 64, then 8, then 1 column.
///
/// # Safety
/// As for [`gemv`], with `csb = 1`.
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_contiguous(
    k: usize,
    n: usize,
    x: *const f32,
    incx: isize,
    b: *const f32,
    rsb: isize,
    mut update: impl FnMut(usize, f32),
) {
    let mut j = 0;
    let mut sums = [0.0f32; 64];
    while j + 64 <= n {
        // SAFETY: the CPU supports AVX.
        let mut acc = unsafe { [_mm256_setzero_ps(); 8] };
        for p in 0..k {
            // SAFETY: p < k and j + 64 ≤ n, so the 64 floats of row p are inside B.
            unsafe {
                let x_p = _mm256_broadcast_ss(&*x.offset(p as isize * incx));
                let row = b.offset(p as isize * rsb).add(j);
                for (q, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(x_p, _mm256_loadu_ps(row.add(8 * q)), *acc);
                }
            }
        }
        for (q, acc) in acc.iter().enumerate() {
            // SAFETY: `sums` has room for 8 vectors of 8 floats.
            unsafe { _mm256_storeu_ps(sums.as_mut_ptr().add(8 * q), *acc) };
        }
        for (offset, &sum) in sums.iter().enumerate() {
            update(j + offset, sum);
        }
        j += 64;
    }
    while j + 8 <= n {
        // SAFETY: the CPU supports AVX.
        let mut acc = unsafe { _mm256_setzero_ps() };
        for p in 0..k {
            // SAFETY: p < k and j + 8 ≤ n.
            unsafe {
                let x_p = _mm256_broadcast_ss(&*x.offset(p as isize * incx));
                acc = _mm256_fmadd_ps(x_p, _mm256_loadu_ps(b.offset(p as isize * rsb).add(j)), acc);
            }
        }
        // SAFETY: `sums` has room for at least 8 floats.
        unsafe { _mm256_storeu_ps(sums.as_mut_ptr(), acc) };
        for (offset, &sum) in sums[..8].iter().enumerate() {
            update(j + offset, sum);
        }
        j += 8;
    }
    for j in j..n {
        let mut sum = 0.0f32;
        for p in 0..k {
            // SAFETY: p < k and j < n.
            unsafe { sum = (*x.offset(p as isize * incx)).mul_add(*b.offset(p as isize * rsb).add(j), sum) };
        }
        update(j, sum);
    }
}

/// Computes `xᵀ·B` for column-major B, in blocks of 32, then 8, then 1 column.
///
/// # Safety
/// As for [`gemv`], with `rsb = 1` and `incx = 1`.
#[target_feature(enable = "avx2,fma")]
unsafe fn columns_contiguous(
    k: usize,
    n: usize,
    x: *const f32,
    b: *const f32,
    csb: isize,
    mut update: impl FnMut(usize, f32),
) {
    let mut j = 0;
    while j + 32 <= n {
        // SAFETY: columns j..j + 32 lie inside B.
        let sums = unsafe { column_sums::<4>(k, x, b.wrapping_offset(j as isize * csb), csb) };
        for (c, &sum) in sums.iter().flatten().enumerate() {
            update(j + c, sum);
        }
        j += 32;
    }
    while j + 8 <= n {
        // SAFETY: columns j..j + 8 lie inside B.
        let sums = unsafe { column_sums::<1>(k, x, b.wrapping_offset(j as isize * csb), csb) };
        for (c, &sum) in sums.iter().flatten().enumerate() {
            update(j + c, sum);
        }
        j += 8;
    }
    for j in j..n {
        let column = b.wrapping_offset(j as isize * csb);
        let mut sum = 0.0f32;
        for p in 0..k {
            // SAFETY: p < k.
            unsafe { sum = (*x.add(p)).mul_add(*column.add(p), sum) };
        }
        update(j, sum);
    }
}

/// Steps (floats) ahead of the current one at which [`column_sums`]
/// prefetches each column: two cache lines.
const PREFETCH_AHEAD: usize = 32;

/// Returns `xᵀ·B[:, c]` for the `8·GROUPS` columns starting at `b`, grouped
/// by 8. The groups' FMA chains are independent, which hides the FMA latency.
///
/// Each pass reads 16 steps (a cache line) of every column. Columns a
/// power-of-two distance apart map to the same few L1 sets, so a line must be
/// used up before the other columns' lines evict it.
///
/// # Safety
/// As for [`columns_contiguous`], for `8·GROUPS` columns.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn column_sums<const GROUPS: usize>(k: usize, x: *const f32, b: *const f32, csb: isize) -> [[f32; 8]; GROUPS] {
    let vector_end = k / 8 * 8;
    // SAFETY: the CPU supports AVX.
    let mut acc = unsafe { [_mm256_setzero_ps(); GROUPS] };
    let mut p = 0;
    while p + 16 <= vector_end {
        // The hardware prefetcher misses many of these interleaved column
        // streams: prefetching each column two lines ahead took the LM-head
        // shape 1 × 384 × 8192 (B transposed, from DRAM) from 3-6 to 9-10 GB/s.
        for c in 0..8 * GROUPS {
            let ahead = b.wrapping_offset(c as isize * csb).wrapping_add(p + PREFETCH_AHEAD);
            // SAFETY: a prefetch never faults, even past the end of B.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.cast()) };
        }
        for (g, acc) in acc.iter_mut().enumerate() {
            let group = b.wrapping_offset(8 * g as isize * csb);
            // SAFETY: p + 16 ≤ k, within the 8 columns of this group.
            unsafe {
                accumulate_8_steps(acc, x, group, csb, p);
                accumulate_8_steps(acc, x, group, csb, p + 8);
            }
        }
        p += 16;
    }
    if p < vector_end {
        for (g, acc) in acc.iter_mut().enumerate() {
            // SAFETY: p + 8 ≤ k, within the 8 columns of this group.
            unsafe { accumulate_8_steps(acc, x, b.wrapping_offset(8 * g as isize * csb), csb, p) };
        }
    }

    let mut sums = [[0.0f32; 8]; GROUPS];
    for (g, (sums, acc)) in sums.iter_mut().zip(&acc).enumerate() {
        // SAFETY: `sums` has room for 8 floats per group.
        unsafe { _mm256_storeu_ps(sums.as_mut_ptr(), *acc) };
        for (c, sum) in sums.iter_mut().enumerate() {
            let column = b.wrapping_offset((8 * g + c) as isize * csb);
            for p in vector_end..k {
                // SAFETY: p < k.
                unsafe { *sum = (*x.add(p)).mul_add(*column.add(p), *sum) };
            }
        }
    }
    sums
}

/// Adds steps `p..p + 8` of the 8 columns at `b` to `acc`, lane `c` for
/// column `c`: the 8×8 block is loaded as 8 column vectors and transposed in
/// registers into 8 row vectors, so each lane keeps a sequential FMA chain.
///
/// # Safety
/// The CPU supports AVX2 and FMA. `x + p + q` and `b + c·csb + p + q` are
/// valid for reads for `q, c < 8`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn accumulate_8_steps(acc: &mut __m256, x: *const f32, b: *const f32, csb: isize, p: usize) {
    // SAFETY: the reads stay inside the 8 × 8 block the caller guarantees.
    unsafe {
        let mut block = [_mm256_setzero_ps(); 8];
        for (c, vector) in block.iter_mut().enumerate() {
            *vector = _mm256_loadu_ps(b.offset(c as isize * csb).add(p));
        }
        for (q, row) in transpose(block).iter().enumerate() {
            *acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&*x.add(p + q)), *row, *acc);
        }
    }
}
