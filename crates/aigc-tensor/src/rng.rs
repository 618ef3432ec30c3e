//! A seeded, serialisable random-number generator.
//!
//! Every random draw in aigc (initialisation, dropout, shuffling, sampling)
//! goes through [`Rng`], so a fixed seed gives the same run. The state can be
//! saved in a checkpoint and restored to resume a run exactly.

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A ChaCha8 generator (the `rand_chacha` crate) with the draws aigc needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    /// Creates a generator from a seed. The same seed gives the same stream on every platform.
    pub fn seed(seed: u64) -> Self {
        Rng { inner: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Draws from the standard normal distribution N(0, 1).
    pub fn normal(&mut self) -> f32 {
        StandardNormal.sample(&mut self.inner)
    }

    /// Draws uniformly from [0, 1).
    pub fn uniform(&mut self) -> f32 {
        self.inner.random::<f32>()
    }

    /// Draws an integer uniformly from `0..n`. Returns 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.inner.random_range(0..n)
    }

    /// Draws a `u64` seed, for example to derive a generator per worker.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.random::<u64>()
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}
