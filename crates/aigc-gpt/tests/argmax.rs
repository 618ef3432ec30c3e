//! `argmax` against a plain scan, and greedy sampling through it.

use aigc_gpt::{argmax, sample_next, SamplingConfig};
use aigc_tensor::Rng;

/// Returns the first index of the largest non-NaN value, by a plain scan.
fn reference(values: &[f32]) -> usize {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best.unwrap_or(0)
}

#[test]
fn argmax_matches_scan_on_random_rows() {
    let mut rng = Rng::seed(1);
    for len in [1, 2, 15, 16, 17, 33, 256, 8192, 8193] {
        let values: Vec<f32> = (0..len).map(|_| rng.normal()).collect();
        assert_eq!(argmax(&values), reference(&values), "{len} values");
    }
}

#[test]
fn argmax_first_of_ties_wins() {
    let mut values = vec![0.0f32; 40];
    values[35] = 3.0;
    values[17] = 3.0;
    values[20] = 3.0;
    assert_eq!(argmax(&values), 17);
}

#[test]
fn argmax_skips_nan_and_handles_infinities() {
    assert_eq!(argmax(&[f32::NAN, 1.0, 2.0, f32::NAN]), 2);
    assert_eq!(argmax(&[f32::NEG_INFINITY; 5]), 0);
    assert_eq!(argmax(&[1.0, f32::INFINITY, f32::INFINITY]), 1);
    assert_eq!(argmax(&[f32::NAN; 3]), 0, "all NaN gives 0");
    assert_eq!(argmax(&[]), 0, "empty gives 0");
}

#[test]
fn greedy_sampling_is_argmax() {
    let mut rng = Rng::seed(2);
    let logits: Vec<f32> = (0..300).map(|_| rng.normal()).collect();
    let greedy = SamplingConfig::greedy();
    assert_eq!(sample_next(&logits, &[], &greedy, &mut rng).unwrap() as usize, reference(&logits));
    let penalised = SamplingConfig { repetition_penalty: 1.5, ..SamplingConfig::greedy() };
    let best = reference(&logits) as u32;
    let with_penalty = sample_next(&logits, &[best], &penalised, &mut rng).unwrap();
    let mut adjusted = logits.clone();
    let l = &mut adjusted[best as usize];
    *l = if *l > 0.0 { *l / 1.5 } else { *l * 1.5 };
    assert_eq!(with_penalty as usize, reference(&adjusted), "the penalty still applies to greedy picks");
}
