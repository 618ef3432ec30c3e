//! Rounding f32 to bfloat16, one value at a time and sixteen at a time.
//!
//! A bfloat16 is the top half of an f32: the sign, the full 8-bit exponent
//! and 7 of the 23 fraction bits. The kernel stores the two values of one
//! k-pair in one 32-bit word, the even k in the low half, which is the
//! layout `vdpbf16ps` multiplies pairwise.
#![warn(unsafe_op_in_unsafe_fn)]
#![allow(unused_unsafe)]

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

/// Rounds `x` to the nearest bfloat16 (ties to even) and returns its bits,
/// as the AVX-512 BF16 conversion instructions do: a NaN stays a quiet NaN
/// and a subnormal input becomes a zero of the same sign.
pub(crate) fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x0040) as u16;
    }
    if bits & 0x7f80_0000 == 0 {
        return ((bits >> 16) & 0x8000) as u16;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    ((bits + rounding) >> 16) as u16
}

#[cfg(target_arch = "x86_64")]
/// Rounds `even` and `odd` into one k-pair word, `even` in the low half.
pub(super) fn pair_bits(even: f32, odd: f32) -> u32 {
    u32::from(bf16_bits(even)) | (u32::from(bf16_bits(odd)) << 16)
}

#[cfg(target_arch = "x86_64")]
/// Rounds two vectors into sixteen k-pair words: word i pairs `even[i]` with `odd[i]`.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512 BF16.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn pairs_across(even: __m512, odd: __m512) -> __m512i {
    // SAFETY: the CPU supports the instructions (see the contract).
    unsafe {
        let low = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(even)));
        let high = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(odd)));
        _mm512_or_si512(low, _mm512_slli_epi32::<16>(high))
    }
}

#[cfg(target_arch = "x86_64")]
/// Rounds 32 consecutive values of one row or column into sixteen k-pair
/// words: word i pairs value 2i with value 2i + 1.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512 BF16.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn pairs_along(first: __m512, second: __m512) -> __m512i {
    // SAFETY: the CPU supports the instruction. Its low 16 results come
    // from the second argument, so the values keep their order.
    unsafe { std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(second, first)) }
}

#[cfg(target_arch = "x86_64")]
/// Returns a lane mask for the first `len` of 16 lanes (all 16 when `len >= 16`).
pub(super) fn lanes(len: usize) -> __mmask16 {
    if len >= 16 {
        0xffff
    } else {
        ((1u32 << len) - 1) as __mmask16
    }
}
