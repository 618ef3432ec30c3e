//! Packing of A and B blocks into the panels the micro-kernel streams, and
//! the per-thread buffers that hold them.
//!
//! Packing reads each operand through its row and column strides once per
//! block, so transposed, sliced and broadcast operands cost the same as
//! dense ones afterwards. Panels are padded with zeros to a whole tile.
#![warn(unsafe_op_in_unsafe_fn)]

use std::cell::RefCell;

use core::arch::x86_64::*;

use super::microkernel::{MR, NR};
use super::transpose::transpose;

/// One 64-byte cache line of floats; a `Vec` of these is line-aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([f32; 16]);

/// A growable, cache-line-aligned buffer of floats.
#[derive(Default)]
pub(super) struct AlignedBuffer {
    lines: Vec<CacheLine>,
}

impl AlignedBuffer {
    /// Returns a pointer to at least `len` floats, growing the buffer when it
    /// is smaller. Old contents are kept but callers overwrite what they read.
    pub(super) fn reserve(&mut self, len: usize) -> *mut f32 {
        let lines = len.div_ceil(16);
        if self.lines.len() < lines {
            self.lines.resize(lines, CacheLine([0.0; 16]));
        }
        self.lines.as_mut_ptr().cast()
    }
}

/// The packed A block (`mc × kc`) and B panel (`kc × nc`) of one thread.
#[derive(Default)]
pub(super) struct PackBuffers {
    pub(super) a: AlignedBuffer,
    pub(super) b: AlignedBuffer,
}

thread_local! {
    static BUFFERS: RefCell<PackBuffers> = RefCell::new(PackBuffers::default());
}

/// Runs `f` with this thread's packing buffers, so a steady stream of
/// products allocates nothing. When they are unavailable (the thread is
/// shutting down, or `f` re-enters), `f` gets fresh buffers instead.
pub(super) fn with_buffers<R>(f: impl FnOnce(&mut PackBuffers) -> R) -> R {
    let mut f = Some(f);
    let reused = BUFFERS.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => Some((f.take().expect("called once"))(&mut buffers)),
        Err(_) => None,
    });
    match reused {
        Ok(Some(result)) => result,
        _ => (f.take().expect("not called yet"))(&mut PackBuffers::default()),
    }
}

/// Packs the `mc × kc` block of A at `a` into row panels of `MR` rows.
///
/// Panel `q` starts at `dest + q·MR·kc` and stores, for each `p < kc`, the
/// `MR` values `A[q·MR + r, p]`; rows past `mc` are zero.
///
/// # Safety
/// The CPU supports AVX2. `a + i·rsa + p·csa` is valid for reads for
/// `i < mc`, `p < kc`, and `dest` is valid for `mc.div_ceil(MR)·MR·kc` writes.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: isize, csa: isize, dest: *mut f32) {
    for (q, first_row) in (0..mc).step_by(MR).enumerate() {
        let rows = MR.min(mc - first_row);
        // SAFETY: the panel is inside `dest`, and `first_row + r < mc`.
        unsafe {
            let panel = dest.add(q * MR * kc);
            let src = a.offset(first_row as isize * rsa);
            if rows == MR {
                pack_a_full_panel(kc, src, rsa, csa, panel);
            } else {
                for p in 0..kc {
                    for r in 0..MR {
                        *panel.add(p * MR + r) =
                            if r < rows { *src.offset(r as isize * rsa + p as isize * csa) } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// Packs one panel of exactly `MR` rows, as [`pack_a`] does, unrolled over the rows.
///
/// # Safety
/// As for [`pack_a`], with `mc = MR`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pack_a_full_panel(kc: usize, src: *const f32, rsa: isize, csa: isize, panel: *mut f32) {
    for p in 0..kc {
        for r in 0..MR {
            // SAFETY: r < MR rows and p < kc columns, as the caller guarantees.
            unsafe { *panel.add(p * MR + r) = *src.offset(r as isize * rsa + p as isize * csa) };
        }
    }
}

/// Packs the `kc × nc` panel of B at `b` into column panels of `NR` columns.
///
/// Panel `q` starts at `dest + q·NR·kc` and stores, for each `p < kc`, the
/// `NR` values `B[p, q·NR + j]`; columns past `nc` are zero.
///
/// # Safety
/// The CPU supports AVX2. `b + p·rsb + j·csb` is valid for reads for
/// `p < kc`, `j < nc`, and `dest` is valid for `nc.div_ceil(NR)·NR·kc` writes.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: isize, csb: isize, dest: *mut f32) {
    for (q, first_col) in (0..nc).step_by(NR).enumerate() {
        let cols = NR.min(nc - first_col);
        // SAFETY: the panel is inside `dest`, and `first_col + j < nc`.
        unsafe {
            let panel = dest.add(q * NR * kc);
            let src = b.offset(first_col as isize * csb);
            if cols == NR && csb == 1 {
                // Row-major B: each step copies NR contiguous floats.
                for p in 0..kc {
                    std::ptr::copy_nonoverlapping(src.offset(p as isize * rsb), panel.add(p * NR), NR);
                }
            } else if cols == NR && rsb == 1 {
                // Column-major B (a transposed view): 8 steps of the 16 columns
                // are read as 16 column vectors and transposed in registers.
                pack_b_columns(kc, src, csb, panel);
            } else if rsb.unsigned_abs() < csb.unsigned_abs() {
                // Other column-major-like layouts: walk down each column so the
                // reads are sequential; the writes stay in one small panel.
                for j in 0..NR {
                    for p in 0..kc {
                        *panel.add(p * NR + j) =
                            if j < cols { *src.offset(p as isize * rsb + j as isize * csb) } else { 0.0 };
                    }
                }
            } else {
                for p in 0..kc {
                    for j in 0..NR {
                        *panel.add(p * NR + j) =
                            if j < cols { *src.offset(p as isize * rsb + j as isize * csb) } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// Packs one full panel of a B with unit row stride (contiguous columns), as
/// [`pack_b`] does. Each block of 8 steps is loaded as 16 column vectors, and
/// two 8×8 transposes turn them into the panel's 8 rows of 16.
///
/// # Safety
/// The CPU supports AVX2. `src + p + j·csb` is valid for reads for `p < kc`
/// and `j < NR`, and `panel` for `kc·NR` writes.
#[target_feature(enable = "avx2")]
unsafe fn pack_b_columns(kc: usize, src: *const f32, csb: isize, panel: *mut f32) {
    let vector_end = kc / 8 * 8;
    for p in (0..vector_end).step_by(8) {
        // SAFETY: p + 8 ≤ kc, so the loads stay in the NR columns and the
        // stores in rows p..p + 8 of the panel.
        unsafe {
            let mut left = [_mm256_setzero_ps(); 8];
            let mut right = [_mm256_setzero_ps(); 8];
            for c in 0..8 {
                left[c] = _mm256_loadu_ps(src.offset(c as isize * csb).add(p));
                right[c] = _mm256_loadu_ps(src.offset((c + 8) as isize * csb).add(p));
            }
            let (left, right) = (transpose(left), transpose(right));
            for q in 0..8 {
                _mm256_storeu_ps(panel.add((p + q) * NR), left[q]);
                _mm256_storeu_ps(panel.add((p + q) * NR + 8), right[q]);
            }
        }
    }
    for p in vector_end..kc {
        for j in 0..NR {
            // SAFETY: p < kc and j < NR.
            unsafe { *panel.add(p * NR + j) = *src.offset(j as isize * csb).add(p) };
        }
    }
}
