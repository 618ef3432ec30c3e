//! Incremental decoding with a KV cache.
//!
//! Self-attention at position t needs the keys and values of positions
//! 0..=t. They never change once computed, so the cache keeps them per
//! layer: the prompt is processed once ("prefill"), then each new token
//! costs one position's worth of work ("decode") instead of the whole
//! context's. In f32, logits equal those of [`Gpt::logits`] on the full
//! sequence (a test checks every position to 1e-5).
//!
//! The steps run on plain slices (the `decode` module), without the graph
//! machinery of training: this is the inner loop of generation.

mod decode;
mod quantization;

use std::sync::{Arc, Mutex};

use aigc_autograd::{Result, Tensor};
use aigc_nn::{Module, KEY_BLOCK};
use aigc_tensor::Error;

use crate::model::Gpt;
use decode::{decode_threads, Buffers, DecodeWeights, LogitRows};
pub use quantization::Quantization;

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
/// step appends in place, and the scratch buffers of a step are kept from
/// one call to the next. When a sequence starts (the first call after
/// [`Gpt::new_kv_cache`] or [`KvCache::clear`]), the cache takes the model's
/// weights packed for decoding in its [`Quantization`] format. It decodes
/// the rest of the sequence with them, so, like the cached keys and values,
/// they belong to the weights the sequence started with.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
    capacity: usize,
    n_embd: usize,
    quantization: Quantization,
    weights: Option<Arc<DecodeWeights>>,
    buffers: Buffers,
}

impl std::fmt::Debug for KvCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("layers", &self.layers.len())
            .field("quantization", &self.quantization)
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

    /// Returns the weight format this cache decodes with.
    pub fn quantization(&self) -> Quantization {
        self.quantization
    }

    /// Forgets every cached position.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// The packed weights of a model's last decoded sequence, reused by the
/// next sequence while no parameter has changed.
#[derive(Default)]
pub(crate) struct DecodeWeightsCache(Mutex<Option<Arc<DecodeWeights>>>);

impl Gpt {
    /// Returns the handover time between decoding threads, measured at the
    /// start of this model's last decoded sequence. It decides which
    /// products are split across threads (see
    /// [`aigc_tensor::parallel::ThreadTeam::measure_handover`]). `None` when
    /// the model has not decoded yet or decodes on one thread.
    pub fn decode_handover(&self) -> Option<std::time::Duration> {
        let last = self.decode_weights.0.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref().and_then(|weights| weights.last_handover())
    }
}

impl Gpt {
    /// An empty cache sized for this model, decoding in the model's
    /// [`Gpt::quantization`] format.
    pub fn new_kv_cache(&self) -> KvCache {
        self.new_kv_cache_with(self.quantization())
    }

    /// Returns an empty cache sized for this model, decoding in `quantization`'s format.
    pub fn new_kv_cache_with(&self, quantization: Quantization) -> KvCache {
        let (capacity, n_embd) = (self.config.block_size, self.config.n_embd);
        let layers = vec![LayerCache::new(capacity, n_embd); self.config.n_layer];
        KvCache { layers, len: 0, capacity, n_embd, quantization, weights: None, buffers: Buffers::default() }
    }

    /// Runs `ids` as the next positions after those in `cache`, appends their
    /// keys and values, and returns the logits of every new position (n, V).
    ///
    /// Fails, leaving the cache unchanged, when the new positions would not
    /// fit in `block_size` or an id is outside the vocabulary.
    pub fn forward_cached(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.run_cached(ids, cache, LogitRows::All)?;
        let vocab = self.config.vocab_size;
        Tensor::from_vec(cache.buffers.logits[..ids.len() * vocab].to_vec(), &[ids.len(), vocab])
    }

    /// [`Gpt::forward_cached`] that returns only the last position's
    /// logits `(V)`, borrowed from the cache's buffers: the step of
    /// generation, which allocates nothing once the cache's buffers have
    /// grown to the size of its calls.
    pub fn forward_cached_last<'c>(&self, ids: &[u32], cache: &'c mut KvCache) -> Result<&'c [f32]> {
        self.run_cached(ids, cache, LogitRows::Last)?;
        Ok(&cache.buffers.logits[..self.config.vocab_size])
    }

    fn run_cached(&self, ids: &[u32], cache: &mut KvCache, logit_rows: LogitRows) -> Result<()> {
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
            let weights = self.decode_weights(cache.quantization)?;
            weights.measure_handover();
            cache.weights = Some(weights);
        }
        let weights = cache.weights.clone().expect("set when the sequence started");
        // The new keys and values land past `len`, so until `len` moves a
        // failure leaves the cache as it was.
        weights.decode(ids, cache.len, &mut cache.layers, &mut cache.buffers, logit_rows)?;
        cache.len += n;
        Ok(())
    }

    /// Returns the weights packed for decoding in `quantization`'s format:
    /// those of the last sequence when no parameter has changed since
    /// (same ids and versions), and the format and the thread count (the
    /// rayon pool's, capped at the cores) are the same, else a new snapshot,
    /// which replaces the kept one.
    fn decode_weights(&self, quantization: Quantization) -> Result<Arc<DecodeWeights>> {
        // Versions first, values after: see `Var::version`.
        let versions: Vec<(usize, u64)> = self.parameters().iter().map(|p| (p.var.id(), p.var.version())).collect();
        let mut last = self.decode_weights.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(weights) = last.as_ref() {
            let same_threads = weights.threads() == decode_threads();
            if weights.quantization == quantization && weights.versions == versions && same_threads {
                return Ok(weights.clone());
            }
        }
        let weights = Arc::new(DecodeWeights::of(self, quantization, versions)?);
        *last = Some(weights.clone());
        Ok(weights)
    }
}
