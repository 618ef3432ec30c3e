//! The 6×16 AVX2 + FMA register micro-kernel.
//!
//! One call computes a full `MR×NR` tile `A·B̃` over `kc` steps. Each step
//! reads one column of the tile's rows of A (`MR` values, from a packed
//! panel Ã or from A in place) and one row of the packed panel B̃ (`NR`
//! values). The tile lives in 12 of the 16 ymm registers (6 rows × 2 vectors
//! of 8 lanes), two more hold the current B̃ row and one the broadcast A
//! value. Each step issues 12 FMAs against 2 vector loads and 6 broadcasts,
//! enough to keep two FMA pipes busy (88-93 % of the FMA peak on Zen 4).
#![warn(unsafe_op_in_unsafe_fn)]
// Intrinsics without pointer arguments are safe to call inside
// `#[target_feature]` functions only from Rust 1.87 on. They sit in `unsafe`
// blocks here so the crate still builds on its declared rust-version, 1.80.
#![allow(unused_unsafe)]

use core::arch::x86_64::*;

/// Rows of C in one register tile.
pub(super) const MR: usize = 6;

/// Columns of C in one register tile: two 8-lane ymm vectors.
pub(super) const NR: usize = 16;

/// Writes `C ← α·Ã·B̃ + β·C` for the top-left `rows × cols` of one tile.
///
/// With `PACKED_A`, `a` is a packed panel (`MR` values per step). Without
/// it, `a` points into a row-major A and row `i` of the tile reads the `kc`
/// contiguous floats at `a + i·a_row_stride`. With `beta == 0`, C is never
/// read. Full tiles with unit column stride are updated with vector loads
/// and stores. Edge tiles and other layouts go through a stack copy of the
/// tile and a scalar loop.
///
/// # Safety
/// The CPU supports AVX2 and FMA. With `PACKED_A`, `a` is valid for `kc·MR`
/// reads. Without it, `rows == MR` and `a + i·a_row_stride + p` is valid
/// for reads for `i < MR`, `p < kc`. `b` is valid for `kc·NR` reads. For
/// `i < rows ≤ MR` and `j < cols ≤ NR`, the address `c + i·rsc + j·csc` is
/// valid for reads and writes.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile<const PACKED_A: bool>(
    kc: usize,
    alpha: f32,
    a: *const f32,
    a_row_stride: isize,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
    rows: usize,
    cols: usize,
) {
    // Start fetching the tile of C now, so it is in L1 by the time the k loop
    // ends. On large products it would come from L3: without this prefetch,
    // 1024³ ran at 86 instead of 100 GFLOP/s.
    for i in 0..rows {
        let row = c.wrapping_offset(i as isize * rsc);
        // SAFETY: a prefetch never faults, and AVX2 implies SSE.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(row.cast());
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_offset((cols as isize - 1) * csc).cast());
        }
    }

    // SAFETY: the CPU supports AVX (see the function's contract).
    let mut acc = unsafe { [[_mm256_setzero_ps(); 2]; MR] };
    let (mut a, mut b) = (a, b);
    let a_step = if PACKED_A { MR } else { 1 };

    // Four steps per iteration, then the remainder.
    // SAFETY: each step reads one column of the tile's A rows and NR floats
    // at `b`, and the loops take exactly `kc` steps, within the operands the
    // caller guarantees.
    unsafe {
        for _ in 0..kc / 4 {
            for _ in 0..4 {
                step::<PACKED_A>(&mut acc, a, a_row_stride, b);
                a = a.add(a_step);
                b = b.add(NR);
            }
        }
        for _ in 0..kc % 4 {
            step::<PACKED_A>(&mut acc, a, a_row_stride, b);
            a = a.add(a_step);
            b = b.add(NR);
        }
    }

    // SAFETY: the CPU supports AVX.
    let alpha_v = unsafe { _mm256_set1_ps(alpha) };
    if rows == MR && cols == NR && csc == 1 {
        // SAFETY: the tile is full and rows are contiguous, so row i covers
        // c + i·rsc .. c + i·rsc + NR, all valid by the caller's contract.
        unsafe { store_full(&acc, alpha_v, beta, c, rsc) };
        return;
    }

    let mut buffer = [0.0f32; MR * NR];
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: `buffer` has room for MR rows of NR floats.
        unsafe {
            _mm256_storeu_ps(buffer.as_mut_ptr().add(i * NR), _mm256_mul_ps(alpha_v, row[0]));
            _mm256_storeu_ps(buffer.as_mut_ptr().add(i * NR + 8), _mm256_mul_ps(alpha_v, row[1]));
        }
    }
    // SAFETY: the tile's rows × cols corner lies inside C.
    unsafe { store_edge(&buffer, NR, (rows, cols), beta, c, (rsc, csc)) };
}

/// Writes `C ← α·acc + β·C` for the `rows × cols` corner of a tile whose
/// products, already scaled by α, are in `buffer` with `row_len` floats per
/// row: the path for partial tiles and strided C of every micro-kernel.
///
/// # Safety
/// For `i < rows` and `j < cols`, `c + i·rsc + j·csc` is valid for reads
/// and writes, and `buffer` contains `rows` rows of `row_len ≥ cols` floats.
#[inline]
pub(in crate::gemm) unsafe fn store_edge(
    buffer: &[f32],
    row_len: usize,
    (rows, cols): (usize, usize),
    beta: f32,
    c: *mut f32,
    (rsc, csc): (isize, isize),
) {
    for i in 0..rows {
        for j in 0..cols {
            // SAFETY: i < rows and j < cols, inside the corner the caller guarantees.
            unsafe {
                let out = c.offset(i as isize * rsc + j as isize * csc);
                let product = buffer[i * row_len + j];
                *out = if beta == 0.0 { product } else { product + beta * *out };
            }
        }
    }
}

/// Adds one rank-1 update `A[:, p] · B̃[p, :]` to the tile.
///
/// # Safety
/// AVX2 and FMA are available. `b` is valid for NR reads, and `a` for MR
/// reads (with `PACKED_A`) or `a + i·a_row_stride` for reads for `i < MR`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn step<const PACKED_A: bool>(acc: &mut [[__m256; 2]; MR], a: *const f32, a_row_stride: isize, b: *const f32) {
    // SAFETY: the reads stay inside the A and B values the caller guarantees.
    unsafe {
        let b0 = _mm256_loadu_ps(b);
        let b1 = _mm256_loadu_ps(b.add(8));
        for (i, row) in acc.iter_mut().enumerate() {
            let a_i = if PACKED_A { a.add(i) } else { a.offset(i as isize * a_row_stride) };
            let a_i = _mm256_broadcast_ss(&*a_i);
            row[0] = _mm256_fmadd_ps(a_i, b0, row[0]);
            row[1] = _mm256_fmadd_ps(a_i, b1, row[1]);
        }
    }
}

/// Writes `C ← α·acc + β·C` for a full tile with unit column stride,
/// rounding `α·acc` and `β·C` before the sum, as the scalar edge path and
/// the vector loops for `m = 1` do (no FMA), so every tile of C is rounded
/// alike.
///
/// # Safety
/// AVX2 and FMA are available. For each `i < MR`, the NR floats at
/// `c + i·rsc` are valid for reads and writes.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_full(acc: &[[__m256; 2]; MR], alpha: __m256, beta: f32, c: *mut f32, rsc: isize) {
    // SAFETY: the CPU supports AVX.
    let beta_v = unsafe { _mm256_set1_ps(beta) };
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row i of the tile is the NR floats at c + i·rsc.
        unsafe {
            let out = c.offset(i as isize * rsc);
            let (mut lo, mut hi) = (_mm256_mul_ps(alpha, row[0]), _mm256_mul_ps(alpha, row[1]));
            if beta != 0.0 {
                lo = _mm256_add_ps(lo, _mm256_mul_ps(beta_v, _mm256_loadu_ps(out)));
                hi = _mm256_add_ps(hi, _mm256_mul_ps(beta_v, _mm256_loadu_ps(out.add(8))));
            }
            _mm256_storeu_ps(out, lo);
            _mm256_storeu_ps(out.add(8), hi);
        }
    }
}
