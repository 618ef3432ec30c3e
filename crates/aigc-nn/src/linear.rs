//! The fully connected layer: y = x·Wᵀ + b.

use aigc_autograd::{Error, Result, Var};
use aigc_tensor::{parallel, simd, Rng, Tensor};
use rayon::prelude::*;

use crate::init::Init;
use crate::module::{Module, ParamKind, Parameter};

/// A fully connected layer, `y = x·Wᵀ + b`, like PyTorch `nn.Linear` and
/// Keras `Dense`.
///
/// Shapes: x `(..., in_features)` → y `(..., out_features)`. The weight is
/// `(out_features, in_features)`, the PyTorch layout, so checkpoints map one
/// to one.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_nn::{Linear, Module};
/// use aigc_tensor::{Rng, Tensor};
/// let layer = Linear::new(3, 2, true, &mut Rng::seed(0));
/// let x = Var::new(Tensor::ones(&[4, 5, 3]));        // (B, T, in)
/// assert_eq!(layer.forward(&x)?.shape(), vec![4, 5, 2]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Linear {
    /// The weight, `(out_features, in_features)`.
    pub weight: Var,
    /// The bias, `(out_features,)`, if the layer has one.
    pub bias: Option<Var>,
}

/// The Keras name of [`Linear`].
pub type Dense = Linear;

impl Linear {
    /// Creates a layer with a Glorot-uniform weight (the Keras default) and,
    /// if `bias`, a zero bias.
    pub fn new(in_features: usize, out_features: usize, bias: bool, rng: &mut Rng) -> Linear {
        Linear::with_init(in_features, out_features, bias, Init::GlorotUniform, rng)
    }

    /// Creates a layer whose weight is drawn by `weight_init`; the bias, if
    /// any, starts at zero.
    pub fn with_init(in_features: usize, out_features: usize, bias: bool, weight_init: Init, rng: &mut Rng) -> Linear {
        let weight = Var::parameter(weight_init.tensor(&[out_features, in_features], rng));
        let bias = bias.then(|| Var::parameter(Tensor::zeros(&[out_features])));
        Linear { weight, bias }
    }

    /// Returns the input size.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Returns the output size.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    /// Computes `x·Wᵀ + b` for x `(..., in_features)` (see [`linear`]).
    fn forward(&self, x: &Var) -> Result<Var> {
        linear(x, &self.weight, self.bias.as_ref())
    }

    fn parameters(&self) -> Vec<Parameter> {
        let mut parameters = vec![Parameter::new("weight", self.weight.clone(), ParamKind::Weight)];
        if let Some(bias) = &self.bias {
            parameters.push(Parameter::new("bias", bias.clone(), ParamKind::Bias));
        }
        parameters
    }
}

/// `y = x·Wᵀ + b` as one graph node: x `(..., in)`, W `(out, in)`, b
/// `(out,)` → y `(..., out)`, with all leading axes of x flattened into the
/// rows of one GEMM.
///
/// Backward, with x and g = ∂L/∂y flattened to `(N, in)` and `(N, out)`:
/// `∂L/∂x = g·W`, `∂L/∂W = gᵀ·x`, `∂L/∂b = Σ_rows g`; two GEMMs and a
/// column sum, each only when that input requires a gradient.
///
/// Fails, naming `linear` and both shapes, when the last axis of x is not
/// `in`, or when the bias is not `(out,)`.
pub fn linear(x: &Var, weight: &Var, bias: Option<&Var>) -> Result<Var> {
    let x_shape = x.shape();
    let weight_shape = weight.shape();
    if weight_shape.len() != 2 || x_shape.last() != Some(&weight_shape[1]) {
        return Err(Error::shape(
            "linear",
            &x_shape,
            &weight_shape,
            "the input's last axis must equal in_features of the (out, in) weight",
        ));
    }
    let (out_features, in_features) = (weight_shape[0], weight_shape[1]);
    if let Some(bias) = bias {
        if bias.shape() != [out_features] {
            return Err(Error::shape("linear", &weight_shape, &bias.shape(), "the bias must be (out_features,)"));
        }
    }

    let leading = &x_shape[..x_shape.len() - 1];
    let rows: usize = leading.iter().product();
    let x_2d = x.value().reshape(&[rows, in_features])?; // (N, in)
    let w = weight.value();
    let mut y = x_2d.matmul(&w.t()?)?; // (N, out), a new contiguous tensor
    let bias_value = bias.map(|b| b.value().contiguous());
    if let Some(b) = &bias_value {
        add_row_vector(y.as_slice_mut(), b.as_slice().expect("contiguous"));
    }
    let mut out_shape = leading.to_vec();
    out_shape.push(out_features);
    let y = y.reshape(&out_shape)?;

    let needs = [x.requires_grad(), weight.requires_grad(), bias.is_some_and(|b| b.requires_grad())];
    let mut parents = vec![x, weight];
    parents.extend(bias);
    // ∂L/∂x = g·W, ∂L/∂W = gᵀ·x, ∂L/∂b = Σ_rows g
    Ok(Var::from_op("linear", y, &parents, move |g| {
        let g_2d = g.reshape(&[rows, out_features])?; // (N, out)
        let dx = if needs[0] { Some(g_2d.matmul(&w)?.reshape(&x_shape)?) } else { None };
        let dw = if needs[1] { Some(g_2d.t()?.matmul(&x_2d)?) } else { None };
        let mut grads = vec![dx, dw];
        if bias_value.is_some() {
            grads.push(if needs[2] { Some(column_sums(&g_2d, out_features)?) } else { None });
        }
        Ok(grads)
    }))
}

/// Adds `row` to every row of `matrix` (rows of `row.len()` elements),
/// splitting the rows across the rayon pool when the matrix is large.
/// Each element is one addition, so the result is the same on any number of threads.
fn add_row_vector(matrix: &mut [f32], row: &[f32]) {
    if row.is_empty() {
        return;
    }
    let add_to_rows = |rows: &mut [f32]| add_to_each_row(rows, row);
    if matrix.len() >= parallel::PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        let rows_per_task = PARALLEL_CHUNK.div_ceil(row.len());
        matrix.par_chunks_mut(rows_per_task * row.len()).for_each(add_to_rows);
    } else {
        add_to_rows(matrix);
    }
}

/// Elements per rayon task in [`add_row_vector`] and [`column_sums`].
const PARALLEL_CHUNK: usize = 1 << 14;

/// Sums the rows of a `(N, columns)` tensor into `(columns,)`, row by row in order.
///
/// When the matrix is large, groups of columns are summed on the rayon
/// pool. Each column is still summed by one task, top to bottom, so the
/// result does not depend on the number of threads.
fn column_sums(matrix: &Tensor, columns: usize) -> Result<Tensor> {
    let matrix = matrix.contiguous();
    let mut sums = vec![0.0f32; columns];
    if columns == 0 {
        return Tensor::from_vec(sums, &[columns]);
    }
    let values = matrix.as_slice().expect("contiguous");
    let sum_columns = |first: usize, sums: &mut [f32]| add_columns(values, columns, first, sums);
    let threads = rayon::current_num_threads();
    if values.len() >= parallel::PARALLEL_THRESHOLD && threads > 1 && columns >= 2 * COLUMN_GROUP {
        // Groups of whole 16-column blocks, about four per thread.
        let group = columns.div_ceil(4 * threads).div_ceil(COLUMN_GROUP) * COLUMN_GROUP;
        sums.par_chunks_mut(group).enumerate().for_each(|(index, sums)| sum_columns(index * group, sums));
    } else {
        sum_columns(0, &mut sums);
    }
    Tensor::from_vec(sums, &[columns])
}

/// Columns per group in the smallest task of [`column_sums`]: 64 bytes, a cache line.
const COLUMN_GROUP: usize = 16;

/// Adds `row` to each row of `rows` (rows of `row.len()` elements),
/// vectorised with AVX2 when the CPU has it.
fn add_to_each_row(rows: &mut [f32], row: &[f32]) {
    #[inline(always)]
    fn body(rows: &mut [f32], row: &[f32]) {
        for matrix_row in rows.chunks_exact_mut(row.len()) {
            for (m, &r) in matrix_row.iter_mut().zip(row) {
                *m += r;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn body_avx2(rows: &mut [f32], row: &[f32]) {
        body(rows, row)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { body_avx2(rows, row) };
        return;
    }
    body(rows, row)
}

/// Adds columns `first..first + sums.len()` of every row of `values`
/// (rows of `columns` elements) into `sums`, top to bottom, vectorised
/// with AVX2 when the CPU has it.
fn add_columns(values: &[f32], columns: usize, first: usize, sums: &mut [f32]) {
    #[inline(always)]
    fn body(values: &[f32], columns: usize, first: usize, sums: &mut [f32]) {
        for row in values.chunks_exact(columns) {
            for (s, &v) in sums.iter_mut().zip(&row[first..]) {
                *s += v;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn body_avx2(values: &[f32], columns: usize, first: usize, sums: &mut [f32]) {
        body(values, columns, first, sums)
    }
    #[cfg(target_arch = "x86_64")]
    if simd::avx2_fma_available() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { body_avx2(values, columns, first, sums) };
        return;
    }
    body(values, columns, first, sums)
}
