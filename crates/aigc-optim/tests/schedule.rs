//! Learning-rate schedules at their key steps.

use aigc_optim::{Constant, ExponentialDecay, LrSchedule, StepDecay, WarmupCosine};

fn assert_close(got: f32, expected: f64, what: &str) {
    let diff = (f64::from(got) - expected).abs();
    assert!(diff <= 1e-9 + 1e-6 * expected.abs(), "{what}: got {got}, expected {expected}");
}

#[test]
fn constant_is_constant() {
    let schedule = Constant(3e-4);
    for step in [0, 1, 1000, usize::MAX] {
        assert_eq!(schedule.lr(step), 3e-4);
    }
}

#[test]
fn warmup_cosine_key_steps() {
    // max 1e-3, min 1e-4, warm-up over steps 0..10, cosine over steps 10..110.
    let schedule = WarmupCosine::new(1e-3, 1e-4, 10, 110).unwrap();
    let (max, min) = (f64::from(1e-3f32), f64::from(1e-4f32));

    assert_close(schedule.lr(0), max * 1.0 / 10.0, "step 0");
    assert_close(schedule.lr(4), max * 5.0 / 10.0, "step 4");
    assert_close(schedule.lr(9), max, "warmup - 1");
    assert_close(schedule.lr(10), max, "warmup");
    // Halfway through the decay cos(π/2) = 0, so the rate is the midpoint.
    assert_close(schedule.lr(60), (max + min) / 2.0, "mid");
    // A quarter through: min + ½(1 + cos(π/4))(max − min).
    let quarter = min + 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2) * (max - min);
    assert_close(schedule.lr(35), quarter, "quarter");
    assert_eq!(schedule.lr(110), 1e-4, "decay");
    assert_eq!(schedule.lr(111), 1e-4, "beyond");
    assert_eq!(schedule.lr(usize::MAX), 1e-4, "far beyond");
}

#[test]
fn warmup_cosine_decreases_after_warmup() {
    let schedule = WarmupCosine::new(6e-4, 6e-5, 100, 5000).unwrap();
    let rates: Vec<f32> = (100..=5000).map(|step| schedule.lr(step)).collect();
    assert!(rates.windows(2).all(|pair| pair[1] <= pair[0]));
    let warmup: Vec<f32> = (0..100).map(|step| schedule.lr(step)).collect();
    assert!(warmup.windows(2).all(|pair| pair[1] > pair[0]));
}

#[test]
fn warmup_cosine_without_warmup() {
    let schedule = WarmupCosine::new(1.0, 0.0, 0, 4).unwrap();
    assert_close(schedule.lr(0), 1.0, "step 0");
    assert_close(schedule.lr(2), 0.5, "step 2");
    assert_eq!(schedule.lr(4), 0.0);
}

#[test]
fn warmup_cosine_warmup_equal_to_decay() {
    // No cosine phase: warm up, then the floor.
    let schedule = WarmupCosine::new(1.0, 0.1, 4, 4).unwrap();
    assert_close(schedule.lr(3), 1.0, "last warm-up step");
    assert_eq!(schedule.lr(4), 0.1);
}

#[test]
fn warmup_cosine_unchecked_fields_do_not_panic() {
    let schedule = WarmupCosine { max_lr: 1.0, min_lr: 0.1, warmup_steps: 10, decay_steps: 5 };
    assert_close(schedule.lr(9), 1.0, "warm-up");
    assert_eq!(schedule.lr(10), 0.1);
}

#[test]
fn warmup_cosine_invalid_arguments_are_errors() {
    let cases: [(f32, f32, usize, usize, &str); 6] = [
        (1e-4, 1e-3, 10, 100, "min_lr 0.001 is above max_lr 0.0001"),
        (1e-3, 1e-4, 200, 100, "warmup_steps 200 is above decay_steps 100"),
        (-1e-3, -2e-3, 10, 100, "invalid max_lr -0.001"),
        (1e-3, -1e-4, 10, 100, "invalid min_lr -0.0001"),
        (f32::NAN, 1e-4, 10, 100, "invalid max_lr NaN"),
        (f32::INFINITY, 1e-4, 10, 100, "invalid max_lr inf"),
    ];
    for (max_lr, min_lr, warmup, decay, message) in cases {
        let err = WarmupCosine::new(max_lr, min_lr, warmup, decay).unwrap_err().to_string();
        assert!(err.contains("WarmupCosine::new"), "{err}");
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn step_decay_key_steps() {
    let schedule = StepDecay::new(0.1, 30, 0.5).unwrap();
    assert_close(schedule.lr(0), 0.1, "step 0");
    assert_close(schedule.lr(29), 0.1, "step 29");
    assert_close(schedule.lr(30), 0.05, "step 30");
    assert_close(schedule.lr(95), 0.0125, "step 95");
}

#[test]
fn step_decay_invalid_arguments_are_errors() {
    assert!(StepDecay::new(0.1, 0, 0.5).unwrap_err().to_string().contains("step_size 0"));
    assert!(StepDecay::new(0.1, 10, -0.5).unwrap_err().to_string().contains("gamma -0.5"));
    assert!(StepDecay::new(f32::NAN, 10, 0.5).unwrap_err().to_string().contains("initial_lr NaN"));
}

#[test]
fn exponential_decay_key_steps() {
    let schedule = ExponentialDecay::new(1.0, 0.9).unwrap();
    assert_close(schedule.lr(0), 1.0, "step 0");
    assert_close(schedule.lr(1), f64::from(0.9f32), "step 1");
    assert_close(schedule.lr(10), f64::from(0.9f32).powi(10), "step 10");
}

#[test]
fn exponential_decay_invalid_arguments_are_errors() {
    assert!(ExponentialDecay::new(-1.0, 0.9).unwrap_err().to_string().contains("initial_lr -1"));
    assert!(ExponentialDecay::new(1.0, f32::INFINITY).unwrap_err().to_string().contains("gamma inf"));
}
