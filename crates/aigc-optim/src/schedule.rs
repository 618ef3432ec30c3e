//! Learning-rate schedules: the learning rate as a function of the step.

use std::f64::consts::PI;

use aigc_autograd::{Error, Result};

/// A learning rate for each optimizer step, counted from 0.
///
/// The trainer calls [`crate::Optimizer::set_learning_rate`] with
/// `schedule.lr(step)` before each step.
pub trait LrSchedule: Send + Sync {
    /// The learning rate of step `step` (0-based).
    fn lr(&self, step: usize) -> f32;
}

/// The same learning rate at every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constant(pub f32);

impl LrSchedule for Constant {
    fn lr(&self, _step: usize) -> f32 {
        self.0
    }
}

/// Linear warm-up followed by cosine decay, as in nanoGPT:
///
/// ```text
/// step < warmup_steps:                 max_lr · (step + 1) / warmup_steps
/// warmup_steps ≤ step < decay_steps:   min_lr + ½·(1 + cos(π·r))·(max_lr − min_lr),
///                                      r = (step − warmup_steps) / (decay_steps − warmup_steps)
/// step ≥ decay_steps:                  min_lr
/// ```
///
/// The warm-up reaches `max_lr` at step `warmup_steps − 1`, and the cosine
/// starts from `max_lr` at step `warmup_steps`. Build it with
/// [`WarmupCosine::new`], which checks the fields; [`LrSchedule::lr`] does not
/// panic on unchecked fields either.
///
/// ```
/// use aigc_optim::{LrSchedule, WarmupCosine};
/// let schedule = WarmupCosine::new(1e-3, 1e-4, 100, 5000)?;
/// assert!((schedule.lr(0) - 1e-5).abs() < 1e-12);   // 1e-3 · 1/100
/// assert_eq!(schedule.lr(99), 1e-3);
/// assert_eq!(schedule.lr(5000), 1e-4);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupCosine {
    /// The peak learning rate, reached at the end of the warm-up.
    pub max_lr: f32,
    /// The floor reached at `decay_steps` and kept afterwards.
    pub min_lr: f32,
    /// Steps of linear warm-up; 0 starts the cosine at once.
    pub warmup_steps: usize,
    /// The step at which the cosine reaches `min_lr`.
    pub decay_steps: usize,
}

impl WarmupCosine {
    /// Creates the schedule after checking that both rates are finite with
    /// `0 ≤ min_lr ≤ max_lr`, and that `warmup_steps ≤ decay_steps`.
    pub fn new(max_lr: f32, min_lr: f32, warmup_steps: usize, decay_steps: usize) -> Result<Self> {
        const OP: &str = "WarmupCosine::new";
        check_rate(OP, "max_lr", max_lr)?;
        check_rate(OP, "min_lr", min_lr)?;
        if min_lr > max_lr {
            return Err(Error::invalid(OP, format!("min_lr {min_lr} is above max_lr {max_lr}; expected min_lr <= max_lr")));
        }
        if warmup_steps > decay_steps {
            return Err(Error::invalid(
                OP,
                format!("warmup_steps {warmup_steps} is above decay_steps {decay_steps}; expected warmup_steps <= decay_steps"),
            ));
        }
        Ok(WarmupCosine { max_lr, min_lr, warmup_steps, decay_steps })
    }
}

impl LrSchedule for WarmupCosine {
    fn lr(&self, step: usize) -> f32 {
        let (max_lr, min_lr) = (f64::from(self.max_lr), f64::from(self.min_lr));
        if step < self.warmup_steps {
            return (max_lr * (step + 1) as f64 / self.warmup_steps as f64) as f32;
        }
        if step >= self.decay_steps {
            return self.min_lr;
        }
        // Here warmup_steps ≤ step < decay_steps, so the divisor is positive.
        let ratio = (step - self.warmup_steps) as f64 / (self.decay_steps - self.warmup_steps) as f64;
        let cosine = 0.5 * (1.0 + (PI * ratio).cos());
        (min_lr + cosine * (max_lr - min_lr)) as f32
    }
}

/// Multiplies the learning rate by `gamma` every `step_size` steps:
/// `lr(step) = initial_lr · gamma^⌊step / step_size⌋`, like PyTorch's `StepLR`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepDecay {
    /// The learning rate of steps `0..step_size`.
    pub initial_lr: f32,
    /// Steps between two decays.
    pub step_size: usize,
    /// The factor applied at each decay.
    pub gamma: f32,
}

impl StepDecay {
    /// Creates the schedule after checking that `initial_lr` and `gamma` are
    /// finite and non-negative and that `step_size` is at least 1.
    pub fn new(initial_lr: f32, step_size: usize, gamma: f32) -> Result<Self> {
        const OP: &str = "StepDecay::new";
        check_rate(OP, "initial_lr", initial_lr)?;
        check_rate(OP, "gamma", gamma)?;
        if step_size == 0 {
            return Err(Error::invalid(OP, "invalid step_size 0; expected at least 1"));
        }
        Ok(StepDecay { initial_lr, step_size, gamma })
    }
}

impl LrSchedule for StepDecay {
    fn lr(&self, step: usize) -> f32 {
        // `max(1)` keeps an unchecked step_size of 0 from dividing by zero.
        let decays = step / self.step_size.max(1);
        (f64::from(self.initial_lr) * f64::from(self.gamma).powf(decays as f64)) as f32
    }
}

/// Multiplies the learning rate by `gamma` every step:
/// `lr(step) = initial_lr · gamma^step`, like PyTorch's `ExponentialLR`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialDecay {
    /// The learning rate of step 0.
    pub initial_lr: f32,
    /// The factor applied at each step.
    pub gamma: f32,
}

impl ExponentialDecay {
    /// Creates the schedule after checking that `initial_lr` and `gamma` are
    /// finite and non-negative.
    pub fn new(initial_lr: f32, gamma: f32) -> Result<Self> {
        const OP: &str = "ExponentialDecay::new";
        check_rate(OP, "initial_lr", initial_lr)?;
        check_rate(OP, "gamma", gamma)?;
        Ok(ExponentialDecay { initial_lr, gamma })
    }
}

impl LrSchedule for ExponentialDecay {
    fn lr(&self, step: usize) -> f32 {
        (f64::from(self.initial_lr) * f64::from(self.gamma).powf(step as f64)) as f32
    }
}

fn check_rate(op: &'static str, name: &str, value: f32) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(Error::invalid(op, format!("invalid {name} {value}; expected a finite value >= 0")));
    }
    Ok(())
}
