//! The BLIS loop nest around the AVX2 micro-kernel.
//!
//! ```text
//! for jc in 0..n step NC          5th loop: a KC×NC panel of B lives in L3
//!   for pc in 0..k step KC        4th loop: pack B[pc.., jc..] into B̃
//!     for ic in 0..m step MC      3rd loop: pack A[ic.., pc..] into Ã (L2),
//!                                 or read it in place when n is small
//!       for jr in 0..NC step NR   2nd loop: one KC×NR sliver of B̃ (L1/L2)
//!         for ir in 0..MC step MR 1st loop: the MR×NR micro-kernel (Ã sliver in L1)
//! ```
//!
//! The first `pc` block applies the caller's β; later ones add to C (β = 1),
//! so with β = 0 C is only ever written before it is read.
#![warn(unsafe_op_in_unsafe_fn)]

use super::gemv::{self, gemv};
use super::microkernel::{self, MR, NR};
use super::pack::{pack_a, pack_b, with_buffers};

// Block sizes, chosen by timing KC ∈ {256, 384, 512, 768}, MC ∈ {72 … 288}
// and NC ∈ {1024, 2048, 4080} on 2048-row GPT shapes and squares up to 2048,
// one thread, on an AMD EPYC (Zen 4, 32 KiB L1d, 1 MiB L2). The spread was
// within 5 %. Larger KC did best, as expected when every KC block reloads C.

/// Depth of one packed block. The MR×KC sliver of Ã (12 KiB) stays in L1;
/// the KC×NR sliver of B̃ (32 KiB) partly streams from L2, in order.
const KC: usize = 512;

/// Rows of A per packed block: the MC×KC block of Ã (192 KiB) stays in L2,
/// also on a 512 KiB Zen 3 L2. A multiple of MR.
const MC: usize = 96;

/// Columns of B per packed panel: the KC×NC panel of B̃ (2 MiB per thread)
/// stays in L3. A multiple of NR.
const NC: usize = 1024;

/// Widest product whose A is read in place rather than packed, when A's rows
/// are contiguous. Each element of A is used n times, so for small n the
/// packing is a large share of the work: skipping it gained 4-15 % on the
/// attention shapes (n = 32 … 256, same machine). From n = 512 on it gained
/// nothing, and it lost up to 5 % at n = 1024 with power-of-two row strides,
/// whose rows compete for the same L1 sets.
const A_IN_PLACE_MAX_N: usize = 256;

/// Computes `C ← α·A·B + β·C` with cache-blocked loops over packed B̃ and
/// packed Ã (or A in place, see [`A_IN_PLACE_MAX_N`]), or with the vector
/// loops of [`gemv`] when m or n is 1.
///
/// # Safety
/// The CPU supports AVX2 and FMA, and the pointers and strides satisfy the
/// [`GemmKernel::sgemm`](super::GemmKernel::sgemm) contract.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: the caller's contract covers every (i, j) of C.
        unsafe { scale(m, n, beta, c, rsc, csc) };
        return;
    }

    // Equal block sizes, so a product just past a block boundary does not
    // end with a sliver of a block (k = 520 runs as 2 × 260, not 512 + 8).
    // The k blocks depend on k alone, so every output is summed the same way
    // whatever m and n are, also in the vector loops below.
    let kc_max = depth_block(k);

    if m == 1 && gemv::supports(csa, rsb, csb) {
        // SAFETY: A's single row is x and C's single row is y, within the caller's contract.
        unsafe { gemv(k, kc_max, n, alpha, a, csa, b, rsb, csb, beta, c, csc) };
        return;
    }
    if n == 1 && gemv::supports(rsb, csa, rsa) {
        // Cᵀ = Bᵀ·Aᵀ: B's single column is x, and Aᵀ (k × m) has strides (csa, rsa).
        // SAFETY: as above, with the operands' roles swapped.
        unsafe { gemv(k, kc_max, m, alpha, b, rsb, a, csa, rsa, beta, c, rsc) };
        return;
    }

    let mc_max = balanced_block(m, MC, MR);
    let nc_max = balanced_block(n, NC, NR);

    let a_in_place = csa == 1 && n <= A_IN_PLACE_MAX_N;

    with_buffers(|buffers| {
        let a_packed = buffers.a.reserve(mc_max.div_ceil(MR) * MR * kc_max);
        let b_packed = buffers.b.reserve(nc_max.div_ceil(NR) * NR * kc_max);

        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let beta_block = if pc == 0 { beta } else { 1.0 };
                // SAFETY: rows pc..pc + kc and columns jc..jc + nc lie inside
                // B, and `b_packed` was reserved for the largest panel.
                unsafe { pack_b(kc, nc, offset(b, pc, rsb, jc, csb), rsb, csb, b_packed) };

                for ic in (0..m).step_by(mc_max) {
                    let mc = mc_max.min(m - ic);
                    let a_block = offset(a, ic, rsa, pc, csa);
                    // Rows ic..ic + mc and columns pc..pc + kc lie inside A.
                    // In place, only a partial last panel is packed (zero-padded).
                    let full_rows = if a_in_place { mc / MR * MR } else { 0 };
                    if full_rows < mc {
                        let first = a_block.wrapping_offset(full_rows as isize * rsa);
                        // SAFETY: as for B, with the block's rows full_rows..mc of A.
                        unsafe { pack_a(mc - full_rows, kc, first, rsa, csa, a_packed) };
                    }

                    for jr in (0..nc).step_by(NR) {
                        let cols = NR.min(nc - jr);
                        let b_sliver = b_packed.wrapping_add(jr * kc);
                        for ir in (0..mc).step_by(MR) {
                            let rows = MR.min(mc - ir);
                            let c_tile = offset(c, ic + ir, rsc, jc + jr, csc).cast_mut();
                            if ir < full_rows {
                                let a_rows = a_block.wrapping_offset(ir as isize * rsa);
                                // SAFETY: the MR rows of A at a_rows hold kc contiguous
                                // floats each (csa = 1), B̃'s sliver holds kc steps of
                                // NR values, and the tile's rows × cols lie inside C.
                                unsafe {
                                    microkernel::tile::<false>(
                                        kc, alpha, a_rows, rsa, b_sliver, beta_block, c_tile, rsc, csc, rows, cols,
                                    );
                                }
                            } else {
                                let a_sliver = a_packed.wrapping_add((ir - full_rows) * kc);
                                // SAFETY: the packed slivers hold kc steps of MR and NR
                                // values, and the tile's rows × cols lie inside C.
                                unsafe {
                                    microkernel::tile::<true>(
                                        kc, alpha, a_sliver, 0, b_sliver, beta_block, c_tile, rsc, csc, rows, cols,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

/// Returns the steps of k per block of the loops above: `k` split into the
/// fewest equal blocks of at most [`KC`]. Each output is a sequential FMA
/// chain over one such block, and the blocks' sums are added in order.
pub(crate) fn depth_block(k: usize) -> usize {
    balanced_block(k, KC, 1)
}

/// Returns the block length that splits `len` into the fewest blocks of at
/// most `max`, all of equal size, rounded up to a multiple of `align`
/// (`max` must be a multiple of `align`).
pub(super) fn balanced_block(len: usize, max: usize, align: usize) -> usize {
    let blocks = len.div_ceil(max).max(1);
    len.div_ceil(blocks).div_ceil(align) * align
}

/// Returns the address of element (`row`, `col`) of a strided matrix at `base`.
pub(super) fn offset(base: *const f32, row: usize, row_stride: isize, col: usize, col_stride: isize) -> *const f32 {
    base.wrapping_offset(row as isize * row_stride + col as isize * col_stride)
}

/// `C ← β·C`, writing zeros without reading C when `beta == 0`.
///
/// # Safety
/// `c + i·rsc + j·csc` is valid for reads and writes for `i < m`, `j < n`.
pub(super) unsafe fn scale(m: usize, n: usize, beta: f32, c: *mut f32, rsc: isize, csc: isize) {
    for i in 0..m {
        for j in 0..n {
            // SAFETY: (i, j) is inside C, as the caller guarantees.
            unsafe {
                let out = c.offset(i as isize * rsc + j as isize * csc);
                *out = if beta == 0.0 { 0.0 } else { beta * *out };
            }
        }
    }
}
