//! Incremental decoding with a KV cache.
//!
//! Self-attention at position t needs the keys and values of positions
//! 0..=t. They never change once computed, so the cache keeps them per
//! layer: the prompt is processed once ("prefill"), then each new token
//! costs one position's worth of work ("decode") instead of the whole
//! context's. Logits equal those of [`Gpt::logits`] on the full sequence
//! (a test checks every position to 1e-5).
//!
//! The steps run on plain slices (the `decode` module), without the graph
//! machinery of training: this is the inner loop of generation.

mod decode;

use std::sync::Arc;

use aigc_autograd::{Result, Tensor};
use aigc_nn::KEY_BLOCK;
use aigc_tensor::Error;

use crate::model::Gpt;
use decode::DecodeWeights;

/// Keys and values of one layer for up to `capacity` positions: keys
/// transposed, `(H, D, keys_stride)`, the layout the fused attention kernel
/// reads in place, and values `(H, capacity, D)`. Positions at or past the
/// cache's length hold stale values that are never used.
#[derive(Clone)]
struct LayerCache {
    keys_t: Vec<f32>,
    values: Vec<f32>,
    capacity: usize,
    /// `capacity` rounded up to a multiple of [`KEY_BLOCK`].
    keys_stride: usize,
}

impl LayerCache {
    fn new(capacity: usize, n_embd: usize) -> LayerCache {
        let keys_stride = capacity.div_ceil(KEY_BLOCK) * KEY_BLOCK;
        LayerCache { keys_t: vec![0.0; n_embd * keys_stride], values: vec![0.0; n_embd * capacity], capacity, keys_stride }
    }
}

/// The cached keys and values of every layer for one sequence (batch 1).
///
/// The buffers for all `block_size` positions are allocated up front, so a
/// step appends in place. When a sequence starts (the first call after
/// [`Gpt::new_kv_cache`] or [`KvCache::clear`]), the cache also copies the
/// model's weights, transposed for fast one-token steps. It decodes the
/// rest of the sequence with that copy, so, like the cached keys and
/// values, the copy belongs to the weights the sequence started with.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
    capacity: usize,
    n_embd: usize,
    weights: Option<Arc<DecodeWeights>>,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl KvCache {
    /// Number of positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most positions the cache can hold: the model's `block_size`.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Positions still free.
    pub fn remaining(&self) -> usize {
        self.capacity - self.len
    }

    /// Forgets every cached position.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Gpt {
    /// An empty cache sized for this model.
    pub fn new_kv_cache(&self) -> KvCache {
        let (capacity, n_embd) = (self.config.block_size, self.config.n_embd);
        let layers = vec![LayerCache::new(capacity, n_embd); self.config.n_layer];
        KvCache { layers, len: 0, capacity, n_embd, weights: None }
    }

    /// Runs `ids` as the next positions after those in `cache`, appends their
    /// keys and values, and returns the logits of every new position (n, V).
    ///
    /// Fails, leaving the cache unchanged, when the new positions would not
    /// fit in `block_size` or an id is outside the vocabulary.
    pub fn forward_cached(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let n = ids.len();
        if n == 0 {
            return Err(Error::invalid("forward_cached", "no token ids given"));
        }
        if n > cache.remaining() {
            return Err(Error::invalid(
                "forward_cached",
                format!(
                    "{n} new tokens do not fit: the cache holds {} of block_size {} positions; clear it and prefill a shorter context",
                    cache.len, cache.capacity
                ),
            ));
        }
        let fits_model = cache.layers.len() == self.h.len()
            && cache.n_embd == self.config.n_embd
            && cache.capacity <= self.config.block_size;
        if !fits_model {
            return Err(Error::invalid("forward_cached", "this cache was made for another model"));
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            return Err(Error::invalid(
                "forward_cached",
                format!("token id {bad} is outside the model's vocabulary of {} ids", self.config.vocab_size),
            ));
        }

        if cache.len == 0 {
            cache.weights = Some(Arc::new(DecodeWeights::of(self)));
        }
        let weights = cache.weights.clone().expect("set when the sequence started");
        // The new keys and values land past `len`, so until `len` moves a
        // failure leaves the cache as it was.
        let logits = weights.decode(ids, cache.len, &mut cache.layers)?;
        cache.len += n;
        Ok(logits)
    }
}
