//! [`Var`]: a tensor that remembers the operation that made it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use aigc_tensor::{Error, Result, Tensor};

use crate::mode::is_grad_enabled;

/// Computes the gradients of an operation's inputs from the gradient of its
/// output. It returns one entry per parent, `None` where a parent needs none.
pub type BackwardFn = Box<dyn Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync>;

pub(crate) struct Node {
    pub(crate) op: &'static str,
    pub(crate) parents: Vec<Var>,
    pub(crate) backward: BackwardFn,
}

impl Drop for Node {
    /// Releases the parents without recursion. The default drop recurses once
    /// per node (node → parent handle → parent node → ...), and dropping the
    /// end of a chain of 100 000 operations overflowed a 1 MiB thread stack.
    /// Here every parent whose last handle this was moves its own parents to
    /// an explicit stack before it is freed.
    ///
    /// NOTE: a `Var` captured by a backward closure is still dropped
    /// recursively. The built-in operations capture only tensors.
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.parents);
        while let Some(var) = pending.pop() {
            if let Some(mut inner) = Arc::into_inner(var.0) {
                if let Some(node) = inner.node.as_mut() {
                    pending.append(&mut node.parents);
                }
            }
        }
    }
}

pub(crate) struct VarInner {
    pub(crate) id: usize,
    value: RwLock<Tensor>,
    /// Count of changes to `value`, see [`Var::version`].
    version: AtomicU64,
    grad: Mutex<Option<Tensor>>,
    requires_grad: bool,
    pub(crate) node: Option<Node>,
}

/// A node of the computation graph: a value, and for results of operations,
/// the operation and its inputs.
///
/// Three kinds exist: constants (no gradient), leaves that require a
/// gradient (parameters, made with [`Var::parameter`]), and results of
/// operations on at least one variable that requires a gradient. Cloning a
/// `Var` is cheap and the clone is the same node.
///
/// ```
/// use aigc_autograd::Var;
/// use aigc_tensor::Tensor;
/// let w = Var::parameter(Tensor::from_vec(vec![2.0, -1.0], &[2])?);
/// let x = Var::new(Tensor::from_vec(vec![3.0, 4.0], &[2])?);
/// let loss = w.mul(&x)?.sum_all();            // 2·3 + (-1)·4
/// loss.backward()?;
/// assert_eq!(w.grad().unwrap().to_vec(), vec![3.0, 4.0]);   // ∂loss/∂w = x
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Clone)]
pub struct Var(pub(crate) Arc<VarInner>);

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl Var {
    fn make(value: Tensor, requires_grad: bool, node: Option<Node>) -> Var {
        Var(Arc::new(VarInner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            value: RwLock::new(value),
            version: AtomicU64::new(0),
            grad: Mutex::new(None),
            requires_grad,
            node,
        }))
    }

    /// A constant: gradients never flow into it.
    pub fn new(value: Tensor) -> Var {
        Var::make(value, false, None)
    }

    /// A leaf that requires a gradient, such as a model parameter.
    pub fn parameter(value: Tensor) -> Var {
        Var::make(value, true, None)
    }

    /// The result of operation `op` on `parents`, with the function that maps
    /// the output gradient to the parents' gradients.
    ///
    /// When gradients are disabled ([`crate::no_grad`]) or no parent requires
    /// one, the result is a constant and `backward` is dropped, so inference
    /// keeps no graph.
    pub fn from_op(
        op: &'static str,
        value: Tensor,
        parents: &[&Var],
        backward: impl Fn(&Tensor) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
    ) -> Var {
        if !is_grad_enabled() || !parents.iter().any(|p| p.requires_grad()) {
            return Var::new(value);
        }
        let node = Node { op, parents: parents.iter().map(|&p| p.clone()).collect(), backward: Box::new(backward) };
        Var::make(value, true, Some(node))
    }

    /// A unique id of this node, stable for its lifetime.
    pub fn id(&self) -> usize {
        self.0.id
    }

    /// The value (a cheap shared clone).
    pub fn value(&self) -> Tensor {
        self.0.value.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The shape of the value.
    pub fn shape(&self) -> Vec<usize> {
        self.0.value.read().unwrap_or_else(|e| e.into_inner()).shape().to_vec()
    }

    /// Runs `f` with mutable access to the value, for optimizer updates.
    ///
    /// The value is updated in place when no other tensor shares its storage
    /// (the usual case once the last graph using it is dropped).
    pub fn update_value<R>(&self, f: impl FnOnce(&mut Tensor) -> R) -> R {
        let mut value = self.0.value.write().unwrap_or_else(|e| e.into_inner());
        let result = f(&mut value);
        self.0.version.fetch_add(1, Ordering::Release);
        result
    }

    /// The number of times the value was replaced or given out for an
    /// update ([`Var::set_value`], [`Var::update_value`]), as PyTorch's
    /// `Tensor._version` counts in-place changes. Code that keeps a copy
    /// derived from the value, such as packed inference weights, compares
    /// versions to know whether the copy is still current. Such code reads
    /// the version first and the value after, so that a copy is never
    /// recorded with a version newer than its value.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// Replaces the value; fails if the shape changes.
    pub fn set_value(&self, value: Tensor) -> Result<()> {
        let mut current = self.0.value.write().unwrap_or_else(|e| e.into_inner());
        if current.shape() != value.shape() {
            return Err(Error::shape("set_value", current.shape(), value.shape(), "a variable keeps its shape"));
        }
        *current = value;
        self.0.version.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Whether gradients flow into this node.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// Whether this node was created directly rather than by an operation.
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// The operation that made this node, or `None` for leaves and constants.
    pub fn op(&self) -> Option<&'static str> {
        self.0.node.as_ref().map(|n| n.op)
    }

    /// The accumulated gradient of a leaf, after [`Var::backward`].
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the stored gradient, for example after clipping.
    pub fn set_grad(&self, grad: Option<Tensor>) {
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad;
    }

    /// Clears the stored gradient.
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// Adds `grad` to the stored gradient (gradients accumulate, as in PyTorch).
    pub(crate) fn accumulate_grad(&self, grad: Tensor) -> Result<()> {
        let mut slot = self.0.grad.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_mut() {
            Some(existing) => existing.add_scaled_inplace(&grad, 1.0)?,
            None => *slot = Some(grad.contiguous()),
        }
        Ok(())
    }

    /// A constant that shares this node's value and cuts the graph.
    pub fn detach(&self) -> Var {
        Var::new(self.value())
    }
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Var")
            .field("id", &self.id())
            .field("op", &self.op())
            .field("requires_grad", &self.requires_grad())
            .field("value", &self.value())
            .finish()
    }
}
