//! The loop nest around the BF16 micro-kernel: the f32 kernel's five loops
//! (see `gemm/blocking.rs`), with both operands always packed, since packing
//! is where the values are rounded to bfloat16.
#![warn(unsafe_op_in_unsafe_fn)]

use super::microkernel::{self, MR, NR};
use super::pack::{pack, Lines};
use crate::gemm::blocking::{balanced_block, depth_block, offset, scale};
use crate::gemm::pack::with_buffers;

/// Rows of A per packed block: 144 rows × 256 k-pairs of Ã is 144 KiB,
/// which stays in L2. A multiple of MR.
const MC: usize = 144;

/// Columns of B per packed panel: 1024 columns × 256 k-pairs of B̃ is 1 MiB
/// per thread, in L3. A multiple of NR.
const NC: usize = 1024;

/// Computes `C ← α·A·B + β·C` with A and B rounded to bfloat16 and the
/// products summed in f32.
///
/// The depth is split into the same blocks as the f32 kernel
/// ([`depth_block`]), so each output is a sum over blocks that depend on k
/// alone, whatever m, n and the thread count are.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512 BF16, and the pointers and strides
/// satisfy the [`GemmKernel::sgemm`](crate::gemm::GemmKernel::sgemm) contract.
#[target_feature(enable = "avx512f,avx512bf16")]
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

    let kc_max = depth_block(k);
    let pairs_max = kc_max.div_ceil(2);
    let mc_max = balanced_block(m, MC, MR);
    let nc_max = balanced_block(n, NC, NR);

    with_buffers(|buffers| {
        // The buffers are sized in f32s, and a k-pair word has the same size.
        let a_packed: *mut u32 = buffers.a.reserve(mc_max * pairs_max).cast();
        let b_packed: *mut u32 = buffers.b.reserve(nc_max * pairs_max).cast();

        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let pairs = kc.div_ceil(2);
                let beta_block = if pc == 0 { beta } else { 1.0 };
                // The columns of B's panel, each kc deep.
                let b_columns = Lines {
                    base: offset(b, pc, rsb, jc, csb),
                    count: nc,
                    depth: kc,
                    line_stride: csb,
                    step_stride: rsb,
                };
                // SAFETY: the panel lies inside B, and `b_packed` has room for
                // nc_max (a multiple of NR) columns of pairs_max words.
                unsafe { pack(b_columns, NR, b_packed) };

                for ic in (0..m).step_by(mc_max) {
                    let mc = mc_max.min(m - ic);
                    let a_rows = Lines {
                        base: offset(a, ic, rsa, pc, csa),
                        count: mc,
                        depth: kc,
                        line_stride: rsa,
                        step_stride: csa,
                    };
                    // SAFETY: as for B, with mc_max a multiple of MR.
                    unsafe { pack(a_rows, MR, a_packed) };

                    for jr in (0..nc).step_by(NR) {
                        let cols = NR.min(nc - jr);
                        let b_sliver = b_packed.wrapping_add(jr * pairs);
                        for ir in (0..mc).step_by(MR) {
                            let rows = MR.min(mc - ir);
                            let a_sliver = a_packed.wrapping_add(ir * pairs);
                            let c_tile = offset(c, ic + ir, rsc, jc + jr, csc).cast_mut();
                            // SAFETY: the slivers contain `pairs` steps of MR
                            // and NR words, and the tile lies inside C.
                            unsafe {
                                microkernel::tile(
                                    pairs, alpha, a_sliver, b_sliver, beta_block, c_tile, rsc, csc, rows, cols,
                                );
                            }
                        }
                    }
                }
            }
        }
    });
}
