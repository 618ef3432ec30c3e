//! Helpers shared by the integration tests: small data sets and models.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use aigc_autograd::{is_grad_enabled, Result, Var};
use aigc_nn::{Linear, Module, Parameter, ReLU};
use aigc_tensor::{Rng, Tensor};
use aigc_train::models::Sequential;

/// XOR: x (4, 2) and class ids y (4,).
pub fn xor() -> (Tensor, Tensor) {
    let x = Tensor::from_vec(vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2]).unwrap();
    let y = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0], &[4]).unwrap();
    (x, y)
}

/// `per_class` points around each of `classes` centres on a circle of
/// radius 4 with noise 0.5: x (N, 2) and class ids y (N,), classes interleaved.
pub fn blobs(classes: usize, per_class: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = Rng::seed(seed);
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..per_class {
        for class in 0..classes {
            let angle = 2.0 * std::f32::consts::PI * class as f32 / classes as f32;
            features.push(4.0 * angle.cos() + 0.5 * rng.normal());
            features.push(4.0 * angle.sin() + 0.5 * rng.normal());
            labels.push(class as f32);
        }
    }
    let n = labels.len();
    (Tensor::from_vec(features, &[n, 2]).unwrap(), Tensor::from_vec(labels, &[n]).unwrap())
}

/// An MLP inputs → hidden → ReLU → outputs, initialised from `seed`.
pub fn mlp(inputs: usize, hidden: usize, outputs: usize, seed: u64) -> Sequential {
    let mut rng = Rng::seed(seed);
    Sequential::new()
        .add(Linear::new(inputs, hidden, true, &mut rng))
        .add(ReLU)
        .add(Linear::new(hidden, outputs, true, &mut rng))
}

/// A linear layer that records the inputs of every forward pass that
/// records gradients (training steps, not evaluation).
pub struct Recorder {
    pub linear: Linear,
    pub training_inputs: Arc<Mutex<Vec<Vec<f32>>>>,
    pub training: Arc<Mutex<bool>>,
}

impl Recorder {
    pub fn new(inputs: usize, outputs: usize, seed: u64) -> Recorder {
        Recorder {
            linear: Linear::new(inputs, outputs, true, &mut Rng::seed(seed)),
            training_inputs: Arc::default(),
            training: Arc::default(),
        }
    }
}

impl Module for Recorder {
    fn forward(&self, input: &Var) -> Result<Var> {
        if is_grad_enabled() {
            self.training_inputs.lock().unwrap().push(input.value().to_vec());
        }
        self.linear.forward(input)
    }

    fn parameters(&self) -> Vec<Parameter> {
        self.linear.parameters()
    }

    fn set_training(&mut self, training: bool) {
        *self.training.lock().unwrap() = training;
    }
}
