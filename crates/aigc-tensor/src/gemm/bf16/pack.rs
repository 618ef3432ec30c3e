//! Packing f32 blocks of A and B into panels of bfloat16 k-pairs.
//!
//! Both operands are packed the same way, as a set of lines: the rows of an
//! A block or the columns of a B panel. A panel `width` lines wide (MR rows
//! of A, NR columns of B) stores, for each k-pair `p2`, one 32-bit word per
//! line: the line's values at k = 2·p2 and 2·p2 + 1 rounded to bfloat16
//! (see [`super::convert`]). Lines past the block and the odd k past an odd
//! depth are zero. The rounding happens here, once per block, so the
//! micro-kernel reads half the bytes of the f32 kernel's panels.
#![warn(unsafe_op_in_unsafe_fn)]
#![allow(unused_unsafe)]

use core::arch::x86_64::*;

use super::convert::{lanes, pair_bits, pairs_across, pairs_along};

/// A strided set of `count` lines of `depth` values: value `p` of line `r`
/// is at `base + r·line_stride + p·step_stride`.
#[derive(Clone, Copy)]
pub(super) struct Lines {
    pub(super) base: *const f32,
    pub(super) count: usize,
    pub(super) depth: usize,
    pub(super) line_stride: isize,
    pub(super) step_stride: isize,
}

impl Lines {
    fn at(&self, line: usize, step: usize) -> *const f32 {
        self.base.wrapping_offset(line as isize * self.line_stride + step as isize * self.step_stride)
    }
}

/// Packs `lines` into consecutive panels of `width` lines each, starting at
/// `dest`. Panel `q` contains lines `q·width ..` and takes
/// `width · depth.div_ceil(2)` words.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512 BF16. Every value of `lines` is
/// valid for reads, and `dest` for `count.div_ceil(width) · width ·
/// depth.div_ceil(2)` writes.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn pack(lines: Lines, width: usize, dest: *mut u32) {
    let pairs = lines.depth.div_ceil(2);
    for (q, first) in (0..lines.count).step_by(width).enumerate() {
        let panel_lines = Lines {
            base: lines.at(first, 0),
            count: width.min(lines.count - first),
            ..lines
        };
        // SAFETY: the panel's lines lie inside `lines`, and panel q of
        // `dest` has room for `width · pairs` words.
        unsafe {
            let panel = dest.add(q * width * pairs);
            if lines.step_stride == 1 {
                pack_along(panel_lines, width, panel);
            } else if lines.line_stride == 1 {
                pack_across(panel_lines, width, panel);
            } else {
                pack_strided(panel_lines, width, panel);
            }
        }
    }
}

/// Packs one panel whose lines are contiguous (a row-major A, a column-major B):
/// 32 values of a line become 16 words, stored down the panel's column.
///
/// # Safety
/// As for [`pack`], for one panel.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_along(lines: Lines, width: usize, panel: *mut u32) {
    let pairs = lines.depth.div_ceil(2);
    for r in 0..width {
        if r >= lines.count {
            for p2 in 0..pairs {
                // SAFETY: p2 < pairs and r < width, inside the panel.
                unsafe { *panel.add(p2 * width + r) = 0 };
            }
            continue;
        }
        let line = lines.at(r, 0);
        let mut words = [0u32; 16];
        for p in (0..lines.depth).step_by(32) {
            let left = lines.depth - p;
            // SAFETY: the masks keep the loads to the line's `depth` values
            // (masked-off lanes are not read), and the stores to the panel.
            unsafe {
                let first = _mm512_maskz_loadu_ps(lanes(left), line.wrapping_add(p));
                let second = _mm512_maskz_loadu_ps(lanes(left.saturating_sub(16)), line.wrapping_add(p + 16));
                _mm512_storeu_si512(words.as_mut_ptr().cast(), pairs_along(first, second));
                for (t, word) in words.iter().take(left.div_ceil(2).min(16)).enumerate() {
                    *panel.add((p / 2 + t) * width + r) = *word;
                }
            }
        }
    }
}

/// Packs one panel whose lines sit side by side (a column-major A, a row-major B):
/// each step of up to 16 adjacent lines is one vector load.
///
/// # Safety
/// As for [`pack`], for one panel.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_across(lines: Lines, width: usize, panel: *mut u32) {
    let pairs = lines.depth.div_ceil(2);
    for p2 in 0..pairs {
        let (even, odd) = (2 * p2, 2 * p2 + 1);
        for first in (0..width).step_by(16) {
            let stored = (width - first).min(16);
            let loaded = lines.count.saturating_sub(first).min(stored);
            // SAFETY: the loads cover lines first..first + loaded at steps
            // `even` and `odd` (when odd < depth), inside `lines`; the store
            // covers `stored` words of row p2 of the panel.
            unsafe {
                let even_values = _mm512_maskz_loadu_ps(lanes(loaded), lines.at(first, even));
                let odd_values = if odd < lines.depth {
                    _mm512_maskz_loadu_ps(lanes(loaded), lines.at(first, odd))
                } else {
                    _mm512_setzero_ps()
                };
                let words = pairs_across(even_values, odd_values);
                _mm512_mask_storeu_epi32(panel.add(p2 * width + first).cast(), lanes(stored), words);
            }
        }
    }
}

/// Packs one panel of any other layout, a value at a time.
///
/// # Safety
/// As for [`pack`], for one panel.
unsafe fn pack_strided(lines: Lines, width: usize, panel: *mut u32) {
    let pairs = lines.depth.div_ceil(2);
    for p2 in 0..pairs {
        for r in 0..width {
            let word = if r < lines.count {
                // SAFETY: line r < count, steps below depth.
                unsafe {
                    let even = *lines.at(r, 2 * p2);
                    let odd = if 2 * p2 + 1 < lines.depth { *lines.at(r, 2 * p2 + 1) } else { 0.0 };
                    pair_bits(even, odd)
                }
            } else {
                0
            };
            // SAFETY: p2 < pairs and r < width, inside the panel.
            unsafe { *panel.add(p2 * width + r) = word };
        }
    }
}
