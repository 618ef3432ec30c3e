//! Lookup tables: token ids to vectors.

use aigc_autograd::{Result, Var};
use aigc_tensor::{ids_to_indices, Rng, Tensor};

use crate::init::Init;
use crate::module::{Module, ParamKind, Parameter};

/// A table of `num_embeddings` vectors of size `dim`, looked up by id.
///
/// Shapes: ids `S` (any shape, f32 values that are integers in
/// `0..num_embeddings`) → `S + (dim,)`. An id used several times receives
/// the sum of its gradients.
///
/// ```
/// use aigc_nn::{Embedding, Init};
/// use aigc_tensor::{Rng, Tensor};
/// let wte = Embedding::new(10, 4, Init::Normal { std: 0.02 }, &mut Rng::seed(0));
/// let ids = Tensor::from_vec(vec![1.0, 7.0, 7.0, 0.0, 2.0, 9.0], &[2, 3])?;   // (B, T)
/// assert_eq!(wte.forward_ids(&ids)?.shape(), vec![2, 3, 4]);                  // (B, T, C)
/// assert!(wte.forward_ids(&Tensor::scalar(10.0)).is_err());
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Embedding {
    /// The table, `(num_embeddings, dim)`.
    pub weight: Var,
}

impl Embedding {
    /// Creates a table of `num_embeddings` rows of size `dim`, drawn by `init`.
    pub fn new(num_embeddings: usize, dim: usize, init: Init, rng: &mut Rng) -> Embedding {
        Embedding { weight: Var::parameter(init.tensor(&[num_embeddings, dim], rng)) }
    }

    /// Returns the number of rows (the vocabulary size for token embeddings).
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Returns the size of each vector.
    pub fn dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Looks up the rows at `ids`: shape `S` → `S + (dim,)`.
    ///
    /// Fails, naming the position and the value, when an id is not an
    /// integer in `0..num_embeddings`.
    pub fn forward_ids(&self, ids: &Tensor) -> Result<Var> {
        ids_to_indices("embedding", ids, self.num_embeddings())?;
        self.weight.gather_rows(ids)
    }
}

impl Module for Embedding {
    /// Looks up the ids stored in `input` (see [`Embedding::forward_ids`]).
    fn forward(&self, input: &Var) -> Result<Var> {
        self.forward_ids(&input.value())
    }

    fn parameters(&self) -> Vec<Parameter> {
        vec![Parameter::new("weight", self.weight.clone(), ParamKind::Embedding)]
    }
}
