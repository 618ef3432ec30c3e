//! The non-finite guard with `skip_nonfinite`. A step whose loss is NaN is
//! skipped without touching the weights, and the learning rate is halved and
//! the skip reported. Too many skips in a row still stop training, and a
//! resumed run carries the lowered rate on exactly.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aigc_nn::Parameter;
use aigc_optim::WarmupCosine;
use aigc_tensor::{Rng, Tensor};
use aigc_train::checkpoint::{load_checkpoint, read_training_state, weights_digest};
use aigc_train::models::Sequential;
use aigc_train::{
    BatchSource, Callback, FitOptions, Optimizer, SkippedStep, StepLog, StepOptions, TensorBatches, TrainError,
    TrainingControl, MAX_CONSECUTIVE_SKIPS, NONFINITE_LR_FACTOR,
};
use common::{blobs, mlp};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-nonfinite-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds a compiled MLP for 2-D points in 3 classes, trained with SGD at `lr`.
fn model(lr: f32) -> Sequential {
    let mut model = mlp(2, 8, 3, 1);
    model.compile(Optimizer::sgd(lr), "sparse_categorical_crossentropy", &[]).unwrap();
    model
}

/// Blob batches whose inputs are NaN at the listed draws (counting from 1),
/// as a corrupted record or an overflow upstream would make them. It sets
/// `stop` after draw `stop_after`, as a Ctrl-C would.
struct Poisoned {
    inner: TensorBatches,
    drawn: usize,
    poisoned: Vec<usize>,
    stop_after: Option<(usize, Arc<AtomicBool>)>,
}

impl Poisoned {
    fn new(poisoned: &[usize]) -> Poisoned {
        let (x, y) = blobs(3, 20, 5);
        let inner = TensorBatches::new(x.clone(), y.clone(), 8).unwrap().with_validation(x, y).unwrap();
        Poisoned { inner, drawn: 0, poisoned: poisoned.to_vec(), stop_after: None }
    }
}

impl BatchSource for Poisoned {
    fn next_batch(&mut self, rng: &mut Rng) -> aigc_train::Result<(Tensor, Tensor)> {
        self.drawn += 1;
        if let Some((at, flag)) = &self.stop_after {
            if self.drawn == *at {
                flag.store(true, Ordering::SeqCst);
            }
        }
        let (x, y) = self.inner.next_batch(rng)?;
        if self.poisoned.contains(&self.drawn) {
            return Ok((Tensor::full(x.shape(), f32::NAN), y));
        }
        Ok((x, y))
    }

    fn validation_batches(&mut self, rng: &mut Rng) -> aigc_train::Result<Vec<(Tensor, Tensor)>> {
        self.inner.validation_batches(rng)
    }

    fn tokens_per_batch(&self) -> usize {
        self.inner.tokens_per_batch()
    }
}

/// What the callbacks saw: every step log (step, lr, weights digest) and every skip.
#[derive(Default)]
struct Seen {
    logs: Vec<(usize, u32, String)>,
    skips: Vec<SkippedStep>,
}

struct Watch(Arc<Mutex<Seen>>);

impl Callback for Watch {
    fn on_step_end(&mut self, log: &StepLog, params: &[Parameter], _: &mut TrainingControl) -> aigc_train::Result<()> {
        self.0.lock().unwrap().logs.push((log.step, log.lr.to_bits(), weights_digest(params)));
        Ok(())
    }

    fn on_step_skipped(&mut self, skipped: &SkippedStep) -> aigc_train::Result<()> {
        self.0.lock().unwrap().skips.push(skipped.clone());
        Ok(())
    }
}

#[test]
fn skipped_steps_keep_weights_and_halve_lr() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let options = StepOptions::new(10)
        .log_interval(1)
        .eval_interval(5)
        .verbose(false)
        .skip_nonfinite(true)
        .callback(Watch(Arc::clone(&seen)));
    let mut model = model(0.1);
    let history = model.fit_batches(&mut Poisoned::new(&[3, 4]), options).unwrap();

    assert_eq!(history.skipped_steps(), [3, 4]);
    assert!(!history.stopped_early());
    let seen = seen.lock().unwrap();
    let skips: Vec<(usize, f32, f32, usize)> =
        seen.skips.iter().map(|s| (s.step, s.lr, s.lr_scale, s.consecutive)).collect();
    assert_eq!(skips, [(3, 0.05, 0.5, 1), (4, 0.025, 0.25, 2)]);
    assert!(seen.skips.iter().all(|s| s.loss.is_nan() && s.grad_norm.is_nan()));

    // The skipped steps changed no weight: steps 2, 3 and 4 end with the same digest.
    let digest = |step: usize| seen.logs.iter().find(|log| log.0 == step).unwrap().2.clone();
    assert_eq!(digest(3), digest(2));
    assert_eq!(digest(4), digest(2));
    assert_ne!(digest(5), digest(4), "step 5 trains again");
    let lr = |step: usize| f32::from_bits(seen.logs.iter().find(|log| log.0 == step).unwrap().1);
    assert_eq!((lr(2), lr(3), lr(4), lr(5), lr(10)), (0.1, 0.1, 0.05, 0.025, 0.025));
    assert!(model.parameters().iter().all(|p| p.var.value().to_vec().iter().all(|v| v.is_finite())));
    assert!(history.loss().iter().all(|v| v.is_finite()), "skipped steps stay out of the loss means");
}

#[test]
fn skip_scales_scheduled_lr() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let schedule = WarmupCosine::new(0.1, 0.01, 2, 10).unwrap();
    let options = StepOptions::new(10)
        .log_interval(1)
        .verbose(false)
        .schedule(WarmupCosine::new(0.1, 0.01, 2, 10).unwrap())
        .skip_nonfinite(true)
        .callback(Watch(Arc::clone(&seen)));
    model(0.1).fit_batches(&mut Poisoned::new(&[4]), options).unwrap();

    let seen = seen.lock().unwrap();
    for &(step, lr_bits, _) in &seen.logs {
        let scale = if step > 4 { NONFINITE_LR_FACTOR } else { 1.0 };
        assert_eq!(f32::from_bits(lr_bits), aigc_optim::LrSchedule::lr(&schedule, step - 1) * scale, "step {step}");
    }
}

#[test]
fn too_many_skips_stop_training() {
    // Every batch from the third on is NaN: five are skipped, the sixth stops the run.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let dir = temp_dir("limit");
    let options = StepOptions::new(20)
        .log_interval(1)
        .verbose(false)
        .checkpoint_dir(&dir)
        .checkpoint_interval(2)
        .skip_nonfinite(true)
        .callback(Watch(Arc::clone(&seen)));
    let poisoned: Vec<usize> = (3..=20).collect();
    let error = model(0.1).fit_batches(&mut Poisoned::new(&poisoned), options).unwrap_err();

    assert_eq!(MAX_CONSECUTIVE_SKIPS, 5);
    assert!(matches!(error, TrainError::Diverged { step: 8, skipped: 5, .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "fit_batches: training diverged at step 8: loss NaN, gradient norm NaN, after 5 non-finite steps in a row were skipped with the learning rate halved at each; the last good checkpoint is step 6 in {}; resume from it with a lower learning rate or with clip_grad_norm",
            dir.display()
        )
    );
    let skipped: Vec<usize> = seen.lock().unwrap().skips.iter().map(|s| s.step).collect();
    assert_eq!(skipped, [3, 4, 5, 6, 7]);
    // Checkpoints of skipped steps hold the last good weights, which are finite.
    let restored = model(0.1);
    assert_eq!(load_checkpoint(&dir, &restored.parameters()).unwrap().step, 6);
    assert!(restored.parameters().iter().all(|p| p.var.value().to_vec().iter().all(|v| v.is_finite())));
}

#[test]
fn skip_is_off_by_default() {
    let error = model(0.1).fit_batches(&mut Poisoned::new(&[2]), StepOptions::new(5).verbose(false)).unwrap_err();
    assert!(matches!(error, TrainError::Diverged { step: 2, skipped: 0, .. }), "{error:?}");
    assert_eq!(error.to_string(), "fit_batches: training diverged at step 2: loss NaN, gradient norm NaN; lower the learning rate or set clip_grad_norm");
}

#[test]
fn lowered_lr_survives_resume() {
    // Steps 48 and 49 are skipped, the run stops after step 50 and resumes:
    // every later step log, with its quartered scheduled rate, matches the uninterrupted run.
    let poisoned = [48, 49];
    let options = |seen: &Arc<Mutex<Seen>>| {
        StepOptions::new(100)
            .log_interval(3)
            .eval_interval(20)
            .seed(4)
            .verbose(false)
            .schedule(WarmupCosine::new(0.1, 0.01, 5, 100).unwrap())
            .skip_nonfinite(true)
            .callback(Watch(Arc::clone(seen)))
    };
    let full_seen = Arc::new(Mutex::new(Seen::default()));
    let mut full = model(0.1);
    full.fit_batches(&mut Poisoned::new(&poisoned), options(&full_seen)).unwrap();

    let dir = temp_dir("resume");
    let part_seen = Arc::new(Mutex::new(Seen::default()));
    let flag = Arc::new(AtomicBool::new(false));
    let mut source = Poisoned::new(&poisoned);
    source.stop_after = Some((50, Arc::clone(&flag)));
    let mut first = model(0.1);
    first.fit_batches(&mut source, options(&part_seen).checkpoint_dir(&dir).stop_flag(flag)).unwrap();
    let state = read_training_state(&dir).unwrap().unwrap();
    assert_eq!((state.step, state.nonfinite.lr_scale, state.nonfinite.consecutive_skips), (50, 0.25, 0));

    let mut second = model(0.1);
    let state = load_checkpoint(&dir, &second.parameters()).unwrap();
    let mut source = Poisoned::new(&poisoned);
    source.drawn = 50;
    second.fit_batches(&mut source, options(&part_seen).resume_from(state)).unwrap();

    let (full_seen, part_seen) = (full_seen.lock().unwrap(), part_seen.lock().unwrap());
    assert_eq!(part_seen.logs, full_seen.logs);
    assert_eq!(weights_digest(&second.parameters()), weights_digest(&full.parameters()));
}

#[test]
fn fit_skips_nonfinite_batches() {
    // 24 rows in batches of 8 without shuffling: the NaN row makes the second batch of each epoch non-finite.
    let (x, y) = blobs(3, 8, 2);
    let mut values = x.to_vec();
    values[2 * 10] = f32::NAN;
    let x = Tensor::from_vec(values, x.shape()).unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut model = model(0.1);
    let options = FitOptions::new(2, 8).shuffle(false).verbose(false).skip_nonfinite(true).callback(Watch(Arc::clone(&seen)));
    let history = model.fit_with(&x, &y, options).unwrap();

    assert_eq!(history.skipped_steps(), [2, 5]);
    let skips: Vec<(usize, f32, usize)> = seen.lock().unwrap().skips.iter().map(|s| (s.step, s.lr, s.consecutive)).collect();
    assert_eq!(skips, [(2, 0.05, 1), (5, 0.025, 1)], "a finite step between them resets the count");
    assert!(history.loss().iter().all(|v| v.is_finite()), "{:?}", history.loss());
    assert_eq!(model.optimizer().unwrap().learning_rate(), 0.025);

    // Without the option the same data stops at step 2.
    let error = self::model(0.1).fit_with(&x, &y, FitOptions::new(2, 8).shuffle(false).verbose(false)).unwrap_err();
    assert!(matches!(error, TrainError::Diverged { step: 2, .. }), "{error:?}");
}
