//! The [`Tensor`] type: an n-dimensional f32 array with shared, copy-on-write storage.

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// An n-dimensional array of `f32`.
///
/// Cloning is cheap: clones share storage, and an in-place update copies the
/// data first only if another clone still uses it. Views made by
/// [`Tensor::permute`], [`Tensor::transpose`], [`Tensor::t`], [`Tensor::narrow`],
/// [`Tensor::split`], [`Tensor::squeeze`] and [`Tensor::unsqueeze`] share
/// storage too. [`Tensor::contiguous`] makes a row-major copy when one is needed.
///
/// ```
/// use aigc_tensor::Tensor;
/// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
/// let b = a.matmul(&a.t()?)?;          // a · aᵀ
/// assert_eq!(b.to_vec(), vec![5.0, 11.0, 11.0, 25.0]);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor {
    pub(crate) data: ArcArray<f32, IxDyn>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor(shape={:?}, {:?})", self.shape(), self.data)
    }
}

impl Tensor {
    // ---- construction ----

    /// Creates a tensor from row-major data and a shape.
    ///
    /// Fails when `data.len()` is not the product of `shape`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let expected = element_count("from_vec", shape)?;
        if data.len() != expected {
            return Err(Error::shape(
                "from_vec",
                &[data.len()],
                shape,
                format!("{} values cannot fill a shape of {} elements", data.len(), expected),
            ));
        }
        let array = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| Error::invalid("from_vec", format!("shape {shape:?}: {e}")))?;
        Ok(Tensor { data: array.into_shared() })
    }

    /// Wraps an ndarray array.
    pub fn from_array(array: ArrayD<f32>) -> Tensor {
        Tensor { data: array.into_shared() }
    }

    /// Creates a 0-dimensional tensor holding `value`.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(&[]), value))
    }

    /// Creates a tensor filled with `value`.
    ///
    /// # Panics
    /// When the product of the non-zero sizes in `shape` overflows `isize`
    /// (ndarray's limit), as do [`Tensor::zeros`] and [`Tensor::ones`].
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(shape), value))
    }

    /// Creates a tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// Creates a tensor of ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// Creates the (n, n) identity matrix.
    ///
    /// # Panics
    /// When `n·n` overflows `isize`, as [`Tensor::full`] does.
    pub fn eye(n: usize) -> Tensor {
        Tensor::from_array(ArrayD::from_shape_fn(IxDyn(&[n, n]), |i| if i[0] == i[1] { 1.0 } else { 0.0 }))
    }

    /// Creates the 1-D tensor `[0, 1, ..., n-1]`.
    pub fn arange(n: usize) -> Tensor {
        Tensor::from_array(ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f32))
    }

    /// Draws a tensor from N(mean, std²).
    ///
    /// # Panics
    /// When the element count of `shape` overflows, as [`Tensor::full`] does.
    pub fn randn(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Tensor {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| mean + std * rng.normal()).collect();
        Tensor::from_vec(data, shape).expect("length matches shape")
    }

    /// Draws a tensor uniformly from [low, high).
    ///
    /// # Panics
    /// When the element count of `shape` overflows, as [`Tensor::full`] does.
    pub fn rand_uniform(shape: &[usize], low: f32, high: f32, rng: &mut Rng) -> Tensor {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| low + (high - low) * rng.uniform()).collect();
        Tensor::from_vec(data, shape).expect("length matches shape")
    }

    // ---- inspection ----

    /// The dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The strides in elements, as ndarray reports them.
    pub fn strides(&self) -> &[isize] {
        self.data.strides()
    }

    /// Whether the elements are laid out row-major with no gaps.
    pub fn is_contiguous(&self) -> bool {
        self.data.is_standard_layout()
    }

    /// The elements in row-major order, when the tensor is contiguous.
    pub fn as_slice(&self) -> Option<&[f32]> {
        self.data.as_slice()
    }

    /// The elements in row-major order, copying the storage first if another
    /// tensor shares it or it is not contiguous.
    pub fn as_slice_mut(&mut self) -> &mut [f32] {
        if !self.data.is_standard_layout() {
            self.data = self.data.as_standard_layout().into_owned().into_shared();
        }
        self.data.as_slice_mut().expect("standard layout was ensured above")
    }

    /// Copies the elements out in row-major order.
    pub fn to_vec(&self) -> Vec<f32> {
        match self.data.as_slice() {
            Some(slice) => slice.to_vec(),
            None => self.data.iter().copied().collect(),
        }
    }

    /// The single value of a tensor with one element.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                format!("expected a tensor with exactly one element, got shape {:?}", self.shape()),
            ));
        }
        Ok(*self.data.iter().next().expect("one element"))
    }

    /// The underlying ndarray array (a cheap shared clone).
    pub fn to_array(&self) -> ArcArray<f32, IxDyn> {
        self.data.clone()
    }

    /// A read-only ndarray view.
    pub fn view(&self) -> ndarray::ArrayViewD<'_, f32> {
        self.data.view()
    }

    /// Applies `f` to every element in place (copy-on-write).
    pub fn map_inplace(&mut self, f: impl Fn(f32) -> f32 + Sync + Send) {
        let slice = self.as_slice_mut();
        crate::parallel::for_each_mut(slice, |v| *v = f(*v));
    }

    /// Checks whether every element differs from `other`'s by at most `atol + rtol·|other|`.
    ///
    /// Equal infinities and pairs of NaN count as close. Different shapes
    /// compare unequal.
    pub fn allclose(&self, other: &Tensor, rtol: f32, atol: f32) -> bool {
        if self.shape() != other.shape() {
            return false;
        }
        self.data.iter().zip(other.data.iter()).all(|(&a, &b)| {
            if a == b || (a.is_nan() && b.is_nan()) {
                return true;
            }
            // An infinite `b` would make the tolerance infinite as well.
            if a.is_infinite() || b.is_infinite() {
                return false;
            }
            (a - b).abs() <= atol + rtol * b.abs()
        })
    }

    /// Returns the largest absolute element-wise difference to `other`.
    ///
    /// Equal infinities and pairs of NaN differ by 0. The result is NaN when
    /// exactly one element of a pair is NaN, and infinite for different shapes.
    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        if self.shape() != other.shape() {
            return f32::INFINITY;
        }
        let mut largest = 0.0f32;
        for (&a, &b) in self.data.iter().zip(other.data.iter()) {
            let diff = if a == b || (a.is_nan() && b.is_nan()) { 0.0 } else { (a - b).abs() };
            if diff.is_nan() {
                return f32::NAN;
            }
            largest = largest.max(diff);
        }
        largest
    }
}

/// Returns the number of elements of `shape`, or an error naming `op` when
/// it overflows `usize`.
pub(crate) fn element_count(op: &'static str, shape: &[usize]) -> Result<usize> {
    if shape.contains(&0) {
        return Ok(0);
    }
    shape.iter().try_fold(1usize, |count, &size| count.checked_mul(size)).ok_or_else(|| {
        Error::invalid(op, format!("shape {shape:?} has more elements than fit in usize"))
    })
}
