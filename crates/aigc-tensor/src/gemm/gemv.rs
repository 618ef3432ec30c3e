//! Vector × matrix products (`m = 1` or `n = 1`) without packing.
//!
//! With a single row of A, packing B would copy all of it only to read it
//! once, so these loops read B in place instead. They cover the
//! token-by-token decoding products (`(1, C) · (C, 3C)`, `q · Kᵀ`, the LM
//! head `x · Wᵀ`), which are bound by memory bandwidth, not FMAs.
#![warn(unsafe_op_in_unsafe_fn)]
// Intrinsics without pointer arguments are safe to call inside
// `#[target_feature]` functions only from Rust 1.87 on. They sit in `unsafe`
// blocks here so the crate still builds on its declared rust-version, 1.80.
#![allow(unused_unsafe)]

use core::arch::x86_64::*;

/// Returns whether [`gemv`] accepts x and B with these strides: B's rows
/// must be contiguous, or else both B's columns and x.
pub(super) fn supports(incx: isize, row_stride: isize, col_stride: isize) -> bool {
    col_stride == 1 || (row_stride == 1 && incx == 1)
}

/// Computes `y ← α·xᵀ·B + β·y` for a vector `x` of length `k` and a `k × n`
/// matrix B with [`supports`]`(incx, rsb, csb)`. With `beta == 0`, y is
/// never read.
///
/// # Safety
/// The CPU supports AVX2 and FMA. For `p < k` and `j < n`, `x + p·incx`
/// and `b + p·rsb + j·csb` are valid for reads and `y + j·incy` for reads
/// and writes, and y overlaps neither x nor B.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemv(
    k: usize,
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
    let update = |j: usize, product: f32| {
        // SAFETY: callers pass j < n, and y + j·incy is valid by the contract.
        unsafe {
            let out = y.offset(j as isize * incy);
            *out = if beta == 0.0 { alpha * product } else { alpha * product + beta * *out };
        }
    };
    if csb == 1 {
        // SAFETY: forwarded contract, with B's rows contiguous.
        unsafe { rows_contiguous(k, n, x, incx, b, rsb, update) };
    } else {
        debug_assert!(rsb == 1 && incx == 1, "gemv needs contiguous columns and x");
        // SAFETY: forwarded contract, with B's columns and x contiguous.
        unsafe { columns_contiguous(k, n, x, b, csb, update) };
    }
}

/// `xᵀ·B` for row-major B: each step adds `x[p]·B[p, j..j + w]` to `w`
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
            // SAFETY: `sums` holds 8 vectors of 8 floats.
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
        // SAFETY: `sums` holds at least 8 floats.
        unsafe { _mm256_storeu_ps(sums.as_mut_ptr(), acc) };
        for (offset, &sum) in sums[..8].iter().enumerate() {
            update(j + offset, sum);
        }
        j += 8;
    }
    for j in j..n {
        let mut sum = 0.0;
        for p in 0..k {
            // SAFETY: p < k and j < n.
            unsafe { sum += *x.offset(p as isize * incx) * *b.offset(p as isize * rsb).add(j) };
        }
        update(j, sum);
    }
}

/// `xᵀ·B` for column-major B: dot products of x with 4 columns at a time,
/// each column summed in two vectors so that 8 FMA chains are in flight.
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
    let vector_end = k / 16 * 16;
    let mut j = 0;
    while j + 4 <= n {
        let columns = [0, 1, 2, 3].map(|c| b.wrapping_offset((j + c) as isize * csb));
        // SAFETY: the CPU supports AVX.
        let mut acc = unsafe { [[_mm256_setzero_ps(); 2]; 4] };
        for p in (0..vector_end).step_by(16) {
            // SAFETY: p + 16 ≤ k, and x and each column hold k contiguous floats.
            unsafe {
                let (x0, x1) = (_mm256_loadu_ps(x.add(p)), _mm256_loadu_ps(x.add(p + 8)));
                for (column, acc) in columns.iter().zip(acc.iter_mut()) {
                    acc[0] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(column.add(p)), acc[0]);
                    acc[1] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(column.add(p + 8)), acc[1]);
                }
            }
        }
        for (c, (column, acc)) in columns.iter().zip(&acc).enumerate() {
            // SAFETY: the CPU supports AVX.
            let mut sum = unsafe { horizontal_sum(_mm256_add_ps(acc[0], acc[1])) };
            for p in vector_end..k {
                // SAFETY: p < k.
                unsafe { sum += *x.add(p) * *column.add(p) };
            }
            update(j + c, sum);
        }
        j += 4;
    }
    for j in j..n {
        let column = b.wrapping_offset(j as isize * csb);
        // SAFETY: the CPU supports AVX.
        let mut acc = unsafe { _mm256_setzero_ps() };
        for p in (0..k / 8 * 8).step_by(8) {
            // SAFETY: p + 8 ≤ k.
            unsafe { acc = _mm256_fmadd_ps(_mm256_loadu_ps(x.add(p)), _mm256_loadu_ps(column.add(p)), acc) };
        }
        // SAFETY: the CPU supports AVX.
        let mut sum = unsafe { horizontal_sum(acc) };
        for p in k / 8 * 8..k {
            // SAFETY: p < k.
            unsafe { sum += *x.add(p) * *column.add(p) };
        }
        update(j, sum);
    }
}

/// The sum of the 8 lanes of `v`.
///
/// # Safety
/// The CPU supports AVX.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn horizontal_sum(v: __m256) -> f32 {
    // SAFETY: the CPU supports AVX, which implies the SSE3 shuffles.
    unsafe {
        let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
        let single = _mm_add_ss(pairs, _mm_movehdup_ps(pairs));
        _mm_cvtss_f32(single)
    }
}
