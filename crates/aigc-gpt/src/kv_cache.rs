//! Incremental decoding with a KV cache.
//!
//! Self-attention at position t needs the keys and values of positions
//! 0..=t. They never change once computed, so the cache keeps them per
//! layer: the prompt is processed once ("prefill"), then each new token
//! costs one position's worth of work ("decode") instead of the whole
//! context's. Logits equal those of [`Gpt::logits`] on the full sequence
//! (a test checks every position to 1e-5).

use aigc_autograd::{no_grad, Result, Tensor, Var};
use aigc_nn::Module;
use aigc_tensor::Error;

use crate::model::{Block, Gpt};

/// Keys and values of one layer: (1, H, L, D) each, where L is the number
/// of cached positions.
#[derive(Debug, Clone, Default)]
struct LayerCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
}

/// The cached keys and values of every layer for one sequence (batch 1).
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
    capacity: usize,
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
        self.layers.iter_mut().for_each(|l| *l = LayerCache::default());
        self.len = 0;
    }
}

impl Block {
    /// The block on new positions x (1, n, C), reading and extending `cache`.
    fn forward_cached(&self, x: &Var, cache: &mut LayerCache) -> Result<Var> {
        let attn = &self.attn;
        let (n, c) = (x.shape()[1], attn.n_embd);
        let (h, d) = (attn.n_head, attn.n_embd / attn.n_head);

        let qkv = attn.c_attn.forward(&self.ln_1.forward(x)?)?; // (1, n, 3C)
        let heads = |t: Var| t.reshape(&[1, n, h, d])?.permute(&[0, 2, 1, 3]); // (1, H, n, D)
        let parts = qkv.split(-1, &[c, c, c])?;
        let (q, k_new, v_new) = (heads(parts[0].clone())?, heads(parts[1].clone())?, heads(parts[2].clone())?);

        let append = |old: &Option<Tensor>, new: &Var| -> Result<Tensor> {
            match old {
                Some(old) => Tensor::concat(&[old, &new.value()], 2),
                None => Ok(new.value().contiguous()),
            }
        };
        let k = append(&cache.k, &k_new)?; // (1, H, L + n, D)
        let v = append(&cache.v, &v_new)?;
        cache.k = Some(k.clone());
        cache.v = Some(v.clone());

        // Causal with an offset: new position i sees cached keys 0..=L + i.
        let y = attn.kernel.attend(&q, &Var::new(k), &Var::new(v), true)?; // (1, H, n, D)
        let y = y.permute(&[0, 2, 1, 3])?.reshape(&[1, n, c])?;
        let x = x.add(&attn.c_proj.forward(&y)?)?;
        x.add(&self.mlp.forward(&self.ln_2.forward(&x)?)?)
    }
}

impl Gpt {
    /// An empty cache sized for this model.
    pub fn new_kv_cache(&self) -> KvCache {
        KvCache { layers: vec![LayerCache::default(); self.config.n_layer], len: 0, capacity: self.config.block_size }
    }

    /// Runs `ids` as the next positions after those in `cache`, appends their
    /// keys and values, and returns the logits of every new position (n, V).
    ///
    /// Fails, leaving the cache unchanged, when the new positions would not
    /// fit in `block_size`.
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
        if cache.layers.len() != self.h.len() {
            return Err(Error::invalid("forward_cached", "this cache was made for another model"));
        }
        let ids = Tensor::from_vec(ids.iter().map(|&id| id as f32).collect(), &[1, n])?;
        let positions = Tensor::from_vec((cache.len..cache.len + n).map(|p| p as f32).collect(), &[n])?;

        let mut trial = cache.clone();
        let logits = no_grad(|| -> Result<Var> {
            let tok_emb = self.wte.forward_ids(&ids)?; // (1, n, C)
            let pos_emb = self.wpe.forward_ids(&positions)?; // (n, C)
            let mut x = tok_emb.add(&pos_emb)?;
            for (block, layer_cache) in self.h.iter().zip(trial.layers.iter_mut()) {
                x = block.forward_cached(&x, layer_cache)?;
            }
            let x = self.ln_f.forward(&x)?.reshape(&[n, self.config.n_embd])?;
            x.matmul(&self.wte.weight.t()?)
        })?;
        trial.len += n;
        *cache = trial;
        Ok(logits.value())
    }
}
