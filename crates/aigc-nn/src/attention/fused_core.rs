//! The arithmetic of [`crate::FusedAttention`] on plain slices, one batch
//! element at a time.
//!
//! Each head is processed in blocks of [`BLOCK`] queries × [`BLOCK`] keys.
//! Forward, per query block and then key block (online softmax, as in
//! FlashAttention), with row-wise running maximum m and denominator l:
//!
//! ```text
//! S   = scale·Q_b·K_bᵀ                      (BLOCK, BLOCK), masked keys −∞
//! m'  = max(m, rowmax S)
//! l   = l·e^(m − m') + rowsum e^(S − m')
//! O   = O·e^(m − m') + e^(S − m')·V_b
//! y   = O / l,   lse = m + ln l             after the last key block
//! ```
//!
//! so no `(Tq, Tk)` matrix exists. Backward recomputes P = e^(S − lse) block
//! by block and, with D_i = dy_i·y_i for each query row,
//!
//! ```text
//! dV_b += Pᵀ·dY_b,   dS = P ∘ (dY_b·V_bᵀ − D),
//! dQ_b += scale·dS·K_b,   dK_b += scale·dSᵀ·Q_b
//! ```
//!
//! Every product is a small matrix product computed by [`block_product`] in
//! 4 × 16 register tiles. Its right operand must have rows of a multiple of
//! 16 elements. So the backward pass copies each head's operands into
//! scratch buffers padded with zeros: keys and values transposed to
//! `(D, Tk)`, and q, k, dy as `(T, D)` rows. The forward pass reads q in
//! place, v too when D is a multiple of 16, and keys already transposed
//! (as a KV cache stores them) without a copy.

mod one_query;

use aigc_tensor::parallel::ThreadTeam;
use aigc_tensor::simd;

/// Queries and keys per block; also the width of a register tile.
pub(crate) const BLOCK: usize = 16;
/// Keys per block of the online softmax and of the score computation.
pub const KEY_BLOCK: usize = BLOCK;
/// Rows of a register tile.
const TILE_ROWS: usize = 4;
/// Keys per update of the forward pass's online softmax: four blocks, so
/// that rescaling a row happens once per 64 keys.
const SOFTMAX_CHUNK: usize = 4 * BLOCK;

/// The layout of one operand's elements in the slice of one batch element:
/// element (head h, position t, channel d) is at
/// `offset + h·head_stride + t·time_stride + d`. Channels must be adjacent.
///
/// ```
/// use aigc_nn::HeadLayout;
/// // keys inside a packed (T, 3C) projection with C = 8, 2 heads of 4 channels:
/// let keys = HeadLayout::interleaved(8, 24, 4);
/// assert_eq!(keys.index(1, 2, 3), 8 + 4 + 2 * 24 + 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLayout {
    /// Position of head 0, time 0, channel 0.
    pub offset: usize,
    /// Distance between the same element of two adjacent heads.
    pub head_stride: usize,
    /// Distance between two adjacent positions of one head.
    pub time_stride: usize,
}

impl HeadLayout {
    /// Returns the layout of a contiguous `(H, T, D)` block, as in a `(B, H, T, D)` tensor.
    pub fn heads_first(time: usize, head_size: usize) -> HeadLayout {
        HeadLayout { offset: 0, head_stride: time * head_size, time_stride: head_size }
    }

    /// Heads side by side in rows of `row_len` elements, starting at
    /// `offset`: the layout of q, k or v inside a `(T, 3C)` projection, or
    /// of the output inside `(T, C)`.
    pub fn interleaved(offset: usize, row_len: usize, head_size: usize) -> HeadLayout {
        HeadLayout { offset, head_stride: head_size, time_stride: row_len }
    }

    /// Returns the position of element (head, time, channel).
    pub fn index(&self, head: usize, time: usize, channel: usize) -> usize {
        self.offset + head * self.head_stride + time * self.time_stride + channel
    }

    /// Returns the slice length the layout needs for `heads` heads of
    /// `time` positions and `head_size` channels: the last position plus one.
    pub(crate) fn extent(&self, heads: usize, time: usize, head_size: usize) -> usize {
        if heads == 0 || time == 0 || head_size == 0 {
            return 0;
        }
        self.index(heads - 1, time - 1, head_size - 1) + 1
    }
}

/// The sizes of one batch element's attention.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadDims {
    pub heads: usize,
    pub queries: usize,
    pub keys: usize,
    pub head_size: usize,
    pub causal: bool,
}

impl HeadDims {
    /// 1/√D, with D = 0 treated as 1 like the naive kernel.
    fn scale(&self) -> f32 {
        1.0 / (self.head_size.max(1) as f32).sqrt()
    }

    /// Returns how many keys query `i` attends to: all of them, or when
    /// causal those with `j ≤ i + (Tk − Tq)`.
    fn visible(&self, i: usize) -> usize {
        if !self.causal {
            return self.keys;
        }
        (i + 1 + self.keys).saturating_sub(self.queries).min(self.keys)
    }
}

/// Rounds `n` up to a multiple of [`BLOCK`].
fn padded(n: usize) -> usize {
    n.div_ceil(BLOCK) * BLOCK
}

/// One operand of one batch element.
#[derive(Clone, Copy)]
pub(crate) struct Heads<'a> {
    pub data: &'a [f32],
    pub layout: HeadLayout,
}

impl Heads<'_> {
    fn row(&self, head: usize, time: usize, head_size: usize) -> &[f32] {
        let start = self.layout.index(head, time, 0);
        &self.data[start..start + head_size]
    }
}

/// A zeroed `(rows, columns)` row-major scratch matrix.
struct Scratch {
    data: Vec<f32>,
    columns: usize,
}

impl Scratch {
    fn new(rows: usize, columns: usize) -> Scratch {
        Scratch { data: vec![0.0; rows * columns], columns }
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.columns..(r + 1) * self.columns]
    }

    fn row_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.data[r * self.columns..(r + 1) * self.columns]
    }

    fn from_row_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.data[r * self.columns..]
    }

    /// Copies `time` rows of one head of `source` in; the padding columns stay zero.
    fn fill_rows(&mut self, source: &Heads, head: usize, time: usize, head_size: usize) {
        for t in 0..time {
            self.row_mut(t)[..head_size].copy_from_slice(source.row(head, t, head_size));
        }
    }

    /// Copies one head of `source` in transposed, `(D, T)`; the padding
    /// columns stay zero. On x86-64, 4 × 4 blocks are transposed in SSE
    /// registers (part of the x86-64 baseline). Elsewhere it works on 8
    /// positions at a time, so that each output row receives 8 adjacent
    /// values instead of scattered ones.
    fn fill_transposed(&mut self, source: &Heads, head: usize, time: usize, head_size: usize) {
        const GROUP: usize = 8;
        let columns = self.columns;
        let mut t = 0;
        #[cfg(target_arch = "x86_64")]
        while t + 4 <= time {
            let rows: [&[f32]; 4] = std::array::from_fn(|i| source.row(head, t + i, head_size));
            let whole_blocks = head_size / 4 * 4;
            for d in (0..whole_blocks).step_by(4) {
                transpose_4x4(&rows, d, &mut self.data[d * columns + t..], columns);
            }
            for d in whole_blocks..head_size {
                for (i, row) in rows.iter().enumerate() {
                    self.data[d * columns + t + i] = row[d];
                }
            }
            t += 4;
        }
        while t + GROUP <= time {
            let rows: [&[f32]; GROUP] = std::array::from_fn(|i| source.row(head, t + i, head_size));
            for d in 0..head_size {
                let out: &mut [f32; GROUP] = (&mut self.data[d * columns + t..d * columns + t + GROUP]).try_into().expect("a group");
                for (o, row) in out.iter_mut().zip(&rows) {
                    *o = row[d];
                }
            }
            t += GROUP;
        }
        for t in t..time {
            for (d, &x) in source.row(head, t, head_size).iter().enumerate() {
                self.data[d * columns + t] = x;
            }
        }
    }
}

/// Writes elements `first..first + 4` of the four `rows` as four columns:
/// `out[j·ld + i] = rows[i][first + j]` for i, j < 4.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn transpose_4x4(rows: &[&[f32]; 4], first: usize, out: &mut [f32], ld: usize) {
    use std::arch::x86_64::*;

    let inputs: [&[f32]; 4] = std::array::from_fn(|i| &rows[i][first..first + 4]);
    assert!(out.len() >= 3 * ld + 4, "transpose_4x4: the output is too short");
    // SAFETY: SSE is part of the x86-64 baseline; each load reads the 4
    // elements of a slice checked above, and each store writes 4 elements
    // inside `out`, whose length is asserted above.
    unsafe {
        let [r0, r1, r2, r3] = inputs.map(|row| _mm_loadu_ps(row.as_ptr()));
        let (low01, low23) = (_mm_unpacklo_ps(r0, r1), _mm_unpacklo_ps(r2, r3)); // r0[0] r1[0] r0[1] r1[1], …
        let (high01, high23) = (_mm_unpackhi_ps(r0, r1), _mm_unpackhi_ps(r2, r3)); // r0[2] r1[2] r0[3] r1[3], …
        let columns = [
            _mm_movelh_ps(low01, low23),
            _mm_movehl_ps(low23, low01),
            _mm_movelh_ps(high01, high23),
            _mm_movehl_ps(high23, high01),
        ];
        for (j, column) in columns.into_iter().enumerate() {
            _mm_storeu_ps(out.as_mut_ptr().add(j * ld), column);
        }
    }
}

/// `C += A·B` for an `(m, k)` A whose element (i, p) is at
/// `a[i·a_rows + p·a_columns]` (so a transposed A costs nothing), a `(k, n)`
/// B with rows `ldb` apart, and an `(m, n)` C with rows `ldc` apart. n must
/// be a multiple of [`BLOCK`]; every B row must have n readable elements.
///
/// Works in tiles of 4 × 16 elements of C that stay in registers while k
/// runs, which keeps the attention arithmetic-bound rather than
/// load/store-bound. With `AVX2` the tile is written with AVX2 + FMA
/// intrinsics (the caller must have checked the CPU); otherwise with
/// portable loops.
#[inline(always)]
fn block_product<const AVX2: bool>(
    (m, n, k): (usize, usize, usize),
    (a, a_rows, a_columns): (&[f32], usize, usize),
    (b, ldb): (&[f32], usize),
    (c, ldc): (&mut [f32], usize),
) {
    debug_assert_eq!(n % BLOCK, 0);
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    // Every element the loops below touch lies inside these bounds.
    assert!((m - 1) * a_rows + (k - 1) * a_columns < a.len(), "block_product: A is too short");
    assert!((k - 1) * ldb + n <= b.len(), "block_product: B is too short");
    assert!((m - 1) * ldc + n <= c.len(), "block_product: C is too short");
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: the caller checked AVX2 and FMA, and the bounds are asserted above.
        unsafe { avx2::block_product(m, n, k, a.as_ptr(), a_rows, a_columns, b.as_ptr(), ldb, c.as_mut_ptr(), ldc) };
        return;
    }
    for column in (0..n).step_by(BLOCK) {
        for row in 0..m {
            let mut tile = [0.0f32; BLOCK];
            for p in 0..k {
                let a_value = a[row * a_rows + p * a_columns];
                let b_row = &b[p * ldb + column..p * ldb + column + BLOCK];
                for (t, &x) in tile.iter_mut().zip(b_row) {
                    *t += a_value * x;
                }
            }
            let start = row * ldc + column;
            for (out, &x) in c[start..start + BLOCK].iter_mut().zip(&tile) {
                *out += x;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{BLOCK, TILE_ROWS};

    /// [`super::block_product`] with AVX2 + FMA. Each tile of 4 rows × 16
    /// columns of C stays in 8 registers while k runs. Per k it takes two
    /// loads of B, four broadcasts of A and eight fused multiply-adds.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and every element
    /// `a[i·a_rows + p·a_columns]`, `b[p·ldb + j]`, `c[i·ldc + j]` for
    /// i < m, p < k, j < n must be valid; n must be a multiple of 16.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block_product(
        m: usize,
        n: usize,
        k: usize,
        a: *const f32,
        a_rows: usize,
        a_columns: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        let full_rows = m / TILE_ROWS * TILE_ROWS;
        for column in (0..n).step_by(BLOCK) {
            for row in (0..full_rows).step_by(TILE_ROWS) {
                let mut tile = [[_mm256_setzero_ps(); 2]; TILE_ROWS];
                for p in 0..k {
                    let b_row = b.add(p * ldb + column);
                    let (b_low, b_high) = (_mm256_loadu_ps(b_row), _mm256_loadu_ps(b_row.add(8)));
                    for (r, tile_row) in tile.iter_mut().enumerate() {
                        let a_value = _mm256_set1_ps(*a.add((row + r) * a_rows + p * a_columns));
                        tile_row[0] = _mm256_fmadd_ps(a_value, b_low, tile_row[0]);
                        tile_row[1] = _mm256_fmadd_ps(a_value, b_high, tile_row[1]);
                    }
                }
                for (r, tile_row) in tile.iter().enumerate() {
                    add_to(c.add((row + r) * ldc + column), tile_row);
                }
            }
        }
        // The last m % 4 rows, one at a time, with up to four column blocks
        // in flight so that up to eight independent sums hide the FMA
        // latency (a single query of a KV-cache step lands here).
        for row in full_rows..m {
            let a_row = a.add(row * a_rows);
            let c_row = c.add(row * ldc);
            let mut column = 0;
            while column + 4 * BLOCK <= n {
                row_blocks::<4>(k, a_row, a_columns, b.add(column), ldb, c_row.add(column));
                column += 4 * BLOCK;
            }
            if column + 2 * BLOCK <= n {
                row_blocks::<2>(k, a_row, a_columns, b.add(column), ldb, c_row.add(column));
                column += 2 * BLOCK;
            }
            if column < n {
                row_blocks::<1>(k, a_row, a_columns, b.add(column), ldb, c_row.add(column));
            }
        }
    }

    /// Adds one row of products, `G` column blocks wide: `c[j] += Σ_p a[p·a_columns]·b[p·ldb + j]`
    /// for j < 16·G.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn row_blocks<const G: usize>(k: usize, a: *const f32, a_columns: usize, b: *const f32, ldb: usize, c: *mut f32) {
        let mut tile = [[_mm256_setzero_ps(); 2]; G];
        for p in 0..k {
            let b_row = b.add(p * ldb);
            let a_value = _mm256_set1_ps(*a.add(p * a_columns));
            for (j, block) in tile.iter_mut().enumerate() {
                block[0] = _mm256_fmadd_ps(a_value, _mm256_loadu_ps(b_row.add(j * BLOCK)), block[0]);
                block[1] = _mm256_fmadd_ps(a_value, _mm256_loadu_ps(b_row.add(j * BLOCK + 8)), block[1]);
            }
        }
        for (j, block) in tile.iter().enumerate() {
            add_to(c.add(j * BLOCK), block);
        }
    }

    /// Adds 16 lanes into the 16 floats at `c`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn add_to(c: *mut f32, tile: &[__m256; 2]) {
        _mm256_storeu_ps(c, _mm256_add_ps(_mm256_loadu_ps(c), tile[0]));
        _mm256_storeu_ps(c.add(8), _mm256_add_ps(_mm256_loadu_ps(c.add(8)), tile[1]));
    }
}

/// Computes one query block's scores against one key block: `scale·Q_b·K_bᵀ`,
/// with −∞ where a query may not see a key. Rows past `rows` stay 0.
/// `queries` holds the block's query rows, `lda` apart; `keys_t` holds the
/// transposed keys from the block's first key on, rows `ldb` apart.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_scores<const AVX2: bool>(
    queries: &[f32],
    lda: usize,
    first_query: usize,
    rows: usize,
    keys_t: &[f32],
    ldb: usize,
    first_key: usize,
    dims: &HeadDims,
) -> [[f32; BLOCK]; BLOCK] {
    let mut scores = [[0.0f32; BLOCK]; BLOCK];
    block_product::<AVX2>((rows, BLOCK, dims.head_size), (queries, lda, 1), (keys_t, ldb), (scores.as_flattened_mut(), BLOCK));
    let scale = dims.scale();
    for (r, row) in scores[..rows].iter_mut().enumerate() {
        scale_and_mask(row, scale, dims.visible(first_query + r).saturating_sub(first_key));
    }
    scores
}

/// Multiplies a row of scores by `scale` and sets those from `visible` on to −∞.
#[inline(always)]
fn scale_and_mask(row: &mut [f32], scale: f32, visible: usize) {
    if visible >= row.len() {
        simd::scale(scale, row); // the common case below the diagonal: nothing masked
        return;
    }
    for (lane, s) in row.iter_mut().enumerate() {
        *s = if lane < visible { *s * scale } else { f32::NEG_INFINITY };
    }
}

/// Returns the largest value of a row whose length is a multiple of [`BLOCK`].
#[inline(always)]
fn row_max(values: &[f32]) -> f32 {
    let blocks = values.chunks_exact(BLOCK).map(|block| block_max(block.try_into().expect("a whole block")));
    blocks.fold(f32::NEG_INFINITY, f32::max)
}

/// Returns the largest of 16 values, by a fixed tree of comparisons.
/// NaN is ignored as by `f32::max`, but written as a comparison, which
/// compiles to one `maxps` per step instead of a NaN check and a blend.
#[inline(always)]
fn block_max(values: &[f32; BLOCK]) -> f32 {
    let max = |a: f32, b: f32| if b > a || a.is_nan() { b } else { a };
    let mut lanes = *values;
    let mut width = BLOCK / 2;
    while width > 0 {
        for lane in 0..width {
            lanes[lane] = max(lanes[lane], lanes[lane + width]);
        }
        width /= 2;
    }
    lanes[0]
}

/// The layout of keys stored transposed, `(H, D, T)`: element (head h,
/// position t, channel d) is at `h·head_stride + d·row_stride + t`. A KV
/// cache can keep its keys this way, so attention reads them without a copy.
///
/// `row_stride` must be at least the number of keys rounded up to a multiple
/// of [`KEY_BLOCK`], because scores are computed for whole blocks of keys.
/// The elements past the last key are read but discarded, so they may
/// contain any value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysTransposed {
    /// Distance between the same element of two adjacent heads.
    pub head_stride: usize,
    /// Distance between two channels of one key: the row length of `(D, T)`.
    pub row_stride: usize,
}

/// Keys as the forward pass receives them: rows like q and v, or already transposed.
#[derive(Clone, Copy)]
pub(crate) enum KeySource<'a> {
    Rows(Heads<'a>),
    Transposed(&'a [f32], KeysTransposed),
}

/// Computes the attention output of every head of one batch element into
/// `y`, and each row's log-sum-exp into `lse` (`(H, Tq)`, or empty when
/// the caller does not need it).
pub(crate) fn forward(q: Heads, k: KeySource, v: Heads, y: &mut [f32], y_layout: HeadLayout, lse: &mut [f32], dims: HeadDims) {
    if let KeySource::Transposed(keys, layout) = k {
        if lse.is_empty() && one_query::fits(&dims) {
            one_query::forward(q, keys, layout, v, y, y_layout, dims);
            return;
        }
    }
    forward_blocks(q, k, v, y, y_layout, lse, dims)
}

/// [`forward`] with the heads of a one-query call (a decoding step) split
/// across `team`'s threads. Other calls run as [`forward`] runs them.
pub(crate) fn forward_on(team: &ThreadTeam, q: Heads, k: KeySource, v: Heads, y: &mut [f32], y_layout: HeadLayout, lse: &mut [f32], dims: HeadDims) {
    if let KeySource::Transposed(keys, layout) = k {
        let work = dims.heads * dims.keys * dims.head_size * 2; // scores and weighted values
        let split = dims.heads > 1 && y_layout.head_stride >= dims.head_size && team.worth_splitting(work);
        if split && lse.is_empty() && one_query::fits(&dims) {
            one_query::forward_on(team, q, keys, layout, v, y, y_layout, dims);
            return;
        }
    }
    forward(q, k, v, y, y_layout, lse, dims)
}

/// [`forward`] in blocks of [`BLOCK`] queries, for every size.
fn forward_blocks(q: Heads, k: KeySource, v: Heads, y: &mut [f32], y_layout: HeadLayout, lse: &mut [f32], dims: HeadDims) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(q: Heads, k: KeySource, v: Heads, y: &mut [f32], y_layout: HeadLayout, lse: &mut [f32], dims: HeadDims) {
        forward_body::<true>(q, k, v, y, y_layout, lse, dims)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { forward_avx2(q, k, v, y, y_layout, lse, dims) };
        return;
    }
    forward_body::<false>(q, k, v, y, y_layout, lse, dims)
}

#[inline(always)]
fn forward_body<const AVX2: bool>(q: Heads, k: KeySource, v: Heads, y: &mut [f32], y_layout: HeadLayout, lse: &mut [f32], dims: HeadDims) {
    if dims.head_size == 0 {
        return; // the output has no elements, and no backward pass reads lse
    }
    let (d, d_padded) = (dims.head_size, padded(dims.head_size));
    let scale = dims.scale();
    // Queries are read in place (only their D channels). Values are read in
    // place when their rows need no padding; keys when given transposed.
    let values_in_place = d == d_padded;
    let mut keys_t = match k {
        KeySource::Rows(_) => Scratch::new(d, padded(dims.keys)),
        KeySource::Transposed(..) => Scratch::new(0, 0),
    };
    let mut values = Scratch::new(if values_in_place { 0 } else { padded(dims.keys) }, d_padded);
    let mut out = Scratch::new(BLOCK, d_padded);

    for h in 0..dims.heads {
        let (keys_t, keys_ld) = match k {
            KeySource::Rows(rows) => {
                keys_t.fill_transposed(&rows, h, dims.keys, d);
                (&keys_t.data[..], keys_t.columns)
            }
            KeySource::Transposed(data, layout) => (&data[h * layout.head_stride..], layout.row_stride),
        };
        let (values, values_ld, values_at) = if values_in_place {
            (v.data, v.layout.time_stride, v.layout.index(h, 0, 0))
        } else {
            values.fill_rows(&v, h, dims.keys, d);
            (&values.data[..], d_padded, 0)
        };
        for first_query in (0..dims.queries).step_by(BLOCK) {
            let rows = (dims.queries - first_query).min(BLOCK);
            let last_visible = dims.visible(first_query + rows - 1);
            let queries = &q.data[q.layout.index(h, first_query, 0)..];
            let mut max = [f32::NEG_INFINITY; BLOCK];
            let mut denominator = [0.0f32; BLOCK];
            out.data.fill(0.0);
            for first_key in (0..last_visible).step_by(SOFTMAX_CHUNK) {
                // Scores of up to SOFTMAX_CHUNK keys, in whole blocks of 16.
                let width = padded((last_visible - first_key).min(SOFTMAX_CHUNK));
                let mut p = [[0.0f32; SOFTMAX_CHUNK]; BLOCK];
                let chunk_keys = (&keys_t[first_key..], keys_ld);
                block_product::<AVX2>((rows, width, d), (queries, q.layout.time_stride, 1), chunk_keys, (p.as_flattened_mut(), SOFTMAX_CHUNK));
                for r in 0..rows {
                    let row = &mut p[r][..width];
                    scale_and_mask(row, scale, dims.visible(first_query + r).saturating_sub(first_key));
                    let new_max = max[r].max(row_max(row));
                    if new_max == f32::NEG_INFINITY {
                        row.fill(0.0); // this row attends to none of these keys, nor to any before
                        continue;
                    }
                    let correction = simd::exp(max[r] - new_max);
                    for s in row.iter_mut() {
                        *s = simd::exp(*s - new_max);
                    }
                    denominator[r] = denominator[r] * correction + simd::sum(row);
                    if correction != 1.0 {
                        simd::scale(correction, out.row_mut(r));
                    }
                    max[r] = new_max;
                }
                // Only the chunk's real keys: rows past the last key are never read.
                let keys_in_chunk = (dims.keys - first_key).min(width);
                let chunk_values = (&values[values_at + first_key * values_ld..], values_ld);
                block_product::<AVX2>((rows, d_padded, keys_in_chunk), (p.as_flattened(), SOFTMAX_CHUNK, 1), chunk_values, (&mut out.data, d_padded));
            }
            for r in 0..rows {
                let i = first_query + r;
                let start = y_layout.index(h, i, 0);
                let seen_keys = denominator[r] > 0.0;
                let inverse = if seen_keys { 1.0 / denominator[r] } else { 0.0 };
                for (target, &o) in y[start..start + d].iter_mut().zip(out.row(r)) {
                    *target = o * inverse;
                }
                if !lse.is_empty() {
                    lse[h * dims.queries + i] = if seen_keys { max[r] + denominator[r].ln() } else { f32::NEG_INFINITY };
                }
            }
        }
    }
}

/// The forward values the backward pass reads, for one batch element.
#[derive(Clone, Copy)]
pub(crate) struct Saved<'a> {
    pub q: Heads<'a>,
    pub k: Heads<'a>,
    pub v: Heads<'a>,
    pub y: Heads<'a>,
    /// `(H, Tq)` log-sum-exp of each row's scores.
    pub lse: &'a [f32],
}

/// The destination of the gradients of q, k and v of one batch element:
/// one slice for all three (the packed projection), or three slices.
pub(crate) enum GradTargets<'a> {
    Packed(&'a mut [f32]),
    Separate([&'a mut [f32]; 3]),
}

impl GradTargets<'_> {
    fn slot(&mut self, which: usize) -> &mut [f32] {
        match self {
            GradTargets::Packed(all) => all,
            GradTargets::Separate(each) => each[which],
        }
    }
}

/// Computes the gradients of q, k and v of one batch element from the
/// output gradient `dy`, writing them through `layouts` (q, k, v) into `targets`.
pub(crate) fn backward(saved: Saved, dy: Heads, targets: GradTargets, layouts: [HeadLayout; 3], dims: HeadDims) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn backward_avx2(saved: Saved, dy: Heads, targets: GradTargets, layouts: [HeadLayout; 3], dims: HeadDims) {
        backward_body::<true>(saved, dy, targets, layouts, dims)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { backward_avx2(saved, dy, targets, layouts, dims) };
        return;
    }
    backward_body::<false>(saved, dy, targets, layouts, dims)
}

/// Rows of one head that a product reads as its right operand: in place
/// when their length is already a multiple of [`BLOCK`], else copied into
/// zero-padded scratch.
struct RowOperand<'a> {
    data: &'a [f32],
    start: usize,
    stride: usize,
}

impl<'a> RowOperand<'a> {
    fn new(source: &Heads<'a>, scratch: &'a mut Scratch, head: usize, time: usize, head_size: usize) -> RowOperand<'a> {
        if head_size == padded(head_size) {
            return RowOperand { data: source.data, start: source.layout.index(head, 0, 0), stride: source.layout.time_stride };
        }
        scratch.fill_rows(source, head, time, head_size);
        RowOperand { data: &scratch.data, start: 0, stride: scratch.columns }
    }

    /// Returns the rows from `first` on, and the distance between rows.
    fn from_row(&self, first: usize) -> (&'a [f32], usize) {
        (&self.data[self.start + first * self.stride..], self.stride)
    }
}

#[inline(always)]
fn backward_body<const AVX2: bool>(saved: Saved, dy: Heads, mut targets: GradTargets, layouts: [HeadLayout; 3], dims: HeadDims) {
    if dims.head_size == 0 {
        return; // q, k and v have no elements
    }
    let (d, d_padded) = (dims.head_size, padded(dims.head_size));
    let (queries_padded, keys_padded) = (padded(dims.queries), padded(dims.keys));
    let copies = d != d_padded;
    let scratch_rows = |rows: usize| Scratch::new(if copies { rows } else { 0 }, d_padded);
    let (mut queries_copy, mut keys_copy, mut output_grads_copy) =
        (scratch_rows(queries_padded), scratch_rows(keys_padded), scratch_rows(queries_padded));
    let mut keys_t = Scratch::new(d, keys_padded);
    let mut values_t = Scratch::new(d, keys_padded);
    let mut dq = Scratch::new(queries_padded, d_padded);
    let mut dk = Scratch::new(keys_padded, d_padded);
    let mut dv = Scratch::new(keys_padded, d_padded);
    let mut row_dots = vec![0.0f32; dims.queries];

    for h in 0..dims.heads {
        let queries = RowOperand::new(&saved.q, &mut queries_copy, h, dims.queries, d);
        let keys = RowOperand::new(&saved.k, &mut keys_copy, h, dims.keys, d);
        let output_grads = RowOperand::new(&dy, &mut output_grads_copy, h, dims.queries, d);
        keys_t.fill_transposed(&saved.k, h, dims.keys, d);
        values_t.fill_transposed(&saved.v, h, dims.keys, d);
        for scratch in [&mut dq, &mut dk, &mut dv] {
            scratch.data.fill(0.0);
        }
        for (i, dot) in row_dots.iter_mut().enumerate() {
            *dot = simd::dot(dy.row(h, i, d), saved.y.row(h, i, d)); // D_i = dy_i·y_i
        }
        let lse = &saved.lse[h * dims.queries..(h + 1) * dims.queries];

        for first_query in (0..dims.queries).step_by(BLOCK) {
            let rows = (dims.queries - first_query).min(BLOCK);
            let last_visible = dims.visible(first_query + rows - 1);
            let query_rows = queries.from_row(first_query);
            let output_grad_rows = output_grads.from_row(first_query);
            for first_key in (0..last_visible).step_by(BLOCK) {
                let keys_in_block = (dims.keys - first_key).min(BLOCK);
                let scores = block_scores::<AVX2>(query_rows.0, query_rows.1, first_query, rows, &keys_t.data[first_key..], keys_padded, first_key, &dims);
                let mut p = scores;
                for (r, row) in p[..rows].iter_mut().enumerate() {
                    let row_lse = lse[first_query + r];
                    if row_lse == f32::NEG_INFINITY {
                        row.fill(f32::NEG_INFINITY); // a row that attends to no key: p = 0
                        continue;
                    }
                    for s in row.iter_mut() {
                        *s -= row_lse; // masked scores are −∞: p = 0
                    }
                }
                simd::exp_in_place(&mut p.as_flattened_mut()[..rows * BLOCK]);
                // dP = dY_b·V_bᵀ, then dS = P ∘ (dP − D)
                let mut ds = [[0.0f32; BLOCK]; BLOCK];
                let values_block = (&values_t.data[first_key..], keys_padded);
                block_product::<AVX2>((rows, BLOCK, d), (output_grad_rows.0, output_grad_rows.1, 1), values_block, (ds.as_flattened_mut(), BLOCK));
                for r in 0..rows {
                    let row_dot = row_dots[first_query + r];
                    for (g, &prob) in ds[r].iter_mut().zip(&p[r]) {
                        *g = prob * (*g - row_dot);
                    }
                }
                // dV_b += Pᵀ·dY_b and dK_b += dSᵀ·Q_b (scaled at the end): A read transposed.
                let dv_block = (dv.from_row_mut(first_key), d_padded);
                block_product::<AVX2>((keys_in_block, d_padded, rows), (p.as_flattened(), 1, BLOCK), output_grad_rows, dv_block);
                let dk_block = (dk.from_row_mut(first_key), d_padded);
                block_product::<AVX2>((keys_in_block, d_padded, rows), (ds.as_flattened(), 1, BLOCK), query_rows, dk_block);
                // dQ_b += dS·K_b (scaled at the end)
                let dq_block = (dq.from_row_mut(first_query), d_padded);
                block_product::<AVX2>((rows, d_padded, keys_in_block), (ds.as_flattened(), BLOCK, 1), keys.from_row(first_key), dq_block);
            }
        }

        for (which, grads, time) in [(0, &dq, dims.queries), (1, &dk, dims.keys), (2, &dv, dims.keys)] {
            let factor = if which == 2 { 1.0 } else { dims.scale() };
            let target = targets.slot(which);
            for t in 0..time {
                let start = layouts[which].index(h, t, 0);
                for (out, &g) in target[start..start + d].iter_mut().zip(grads.row(t)) {
                    *out = g * factor;
                }
            }
        }
    }
}
