//! Softmax and log-softmax: values, stability and fully masked rows.

mod common;

use aigc_tensor::{log_softmax_row, softmax_row, Tensor};
use common::{assert_error_mentions, random, tensor};

const NEG_INF: f32 = f32::NEG_INFINITY;

#[test]
fn softmax_hand_computed() {
    // softmax([0, ln 2, ln 5]) = [1, 2, 5] / 8
    let x = tensor(&[0.0, 2f32.ln(), 5f32.ln()], &[3]);

    let p = x.softmax(0).unwrap();

    assert!(p.allclose(&tensor(&[0.125, 0.25, 0.625], &[3]), 1e-6, 1e-7), "{:?}", p.to_vec());
}

#[test]
fn log_softmax_hand_computed() {
    let x = tensor(&[0.0, 2f32.ln(), 5f32.ln()], &[3]);

    let logp = x.log_softmax(-1).unwrap();

    let expected = tensor(&[-(8f32.ln()), -(4f32.ln()), (5.0f32 / 8.0).ln()], &[3]);
    assert!(logp.allclose(&expected, 1e-6, 1e-6), "{:?}", logp.to_vec());
}

#[test]
fn softmax_is_shift_invariant_with_large_values() {
    let small = tensor(&[1.0, 2.0, 3.0], &[1, 3]);
    let large = small.add_scalar(1000.0);
    let very_negative = small.add_scalar(-1000.0);

    let expected = small.softmax(-1).unwrap();

    assert!(large.softmax(-1).unwrap().allclose(&expected, 1e-5, 1e-6));
    assert!(very_negative.softmax(-1).unwrap().allclose(&expected, 1e-5, 1e-6));
    assert!(large.log_softmax(-1).unwrap().allclose(&small.log_softmax(-1).unwrap(), 1e-5, 1e-5));
}

#[test]
fn log_softmax_extreme_gap_stays_finite() {
    let x = tensor(&[0.0, 200.0], &[2]);

    let logp = x.log_softmax(0).unwrap().to_vec();

    assert_eq!(logp, vec![-200.0, 0.0]);
}

#[test]
fn fully_masked_row_gives_zeros_and_negative_infinity() {
    let x = tensor(&[NEG_INF, NEG_INF, NEG_INF, 1.0, NEG_INF, 1.0], &[2, 3]);

    let p = x.softmax(-1).unwrap().to_vec();
    let logp = x.log_softmax(-1).unwrap().to_vec();

    assert_eq!(p, vec![0.0, 0.0, 0.0, 0.5, 0.0, 0.5]);
    assert_eq!(logp[..3], [NEG_INF, NEG_INF, NEG_INF]);
    assert_eq!(logp[4], NEG_INF);
    assert!((logp[3] - (-(2f32.ln()))).abs() < 1e-6);
    assert!(p.iter().chain(&logp).all(|v| !v.is_nan()));
}

#[test]
fn causal_masked_scores_have_no_nan() {
    let scores = random(&[2, 4, 4], 7).masked_fill(&Tensor::causal_mask(4), NEG_INF).unwrap();

    let p = scores.softmax(-1).unwrap();

    assert!(p.to_vec().iter().all(|v| v.is_finite()));
    assert!(p.sum(-1, false).unwrap().allclose(&Tensor::ones(&[2, 4]), 1e-6, 1e-6));
    // Query 0 attends only to position 0.
    assert_eq!(p.narrow(1, 0, 1).unwrap().to_vec()[..4], [1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn softmax_along_first_axis() {
    let x = tensor(&[0.0, 1.0, 0.0, 1.0], &[2, 2]);

    let p = x.softmax(0).unwrap();

    assert_eq!(p.shape(), &[2, 2]);
    assert!(p.allclose(&Tensor::full(&[2, 2], 0.5), 0.0, 1e-7));
    assert!(x.t().unwrap().softmax(-1).unwrap().t().unwrap().allclose(&p, 0.0, 1e-7));
}

#[test]
fn softmax_middle_axis_matches_moved_axis() {
    let x = random(&[2, 3, 4], 11);

    let p = x.softmax(1).unwrap();
    let moved = x.transpose(1, 2).unwrap().softmax(-1).unwrap().transpose(1, 2).unwrap();

    assert_eq!(p.shape(), &[2, 3, 4]);
    assert!(p.allclose(&moved, 0.0, 1e-7));
    assert!(p.sum(1, false).unwrap().allclose(&Tensor::ones(&[2, 4]), 1e-6, 1e-6));
}

#[test]
fn softmax_large_tensor_rows_sum_to_one() {
    // 256 × 300 elements exceed the parallel threshold of 2^16.
    let x = random(&[256, 300], 5).mul_scalar(10.0);

    let p = x.softmax(-1).unwrap();
    let logp = x.log_softmax(-1).unwrap();

    assert!(p.sum(-1, false).unwrap().allclose(&Tensor::ones(&[256]), 1e-5, 1e-5));
    assert!(logp.exp().allclose(&p, 1e-5, 1e-6));
}

#[test]
fn softmax_of_empty_axis_and_empty_batch() {
    assert_eq!(Tensor::zeros(&[3, 0]).softmax(-1).unwrap().shape(), &[3, 0]);
    assert_eq!(Tensor::zeros(&[0, 3]).log_softmax(-1).unwrap().shape(), &[0, 3]);
}

#[test]
fn softmax_axis_errors() {
    let x = Tensor::zeros(&[2, 3]);

    assert_error_mentions(&x.softmax(2).unwrap_err(), "softmax", "[2, 3]");
    assert_error_mentions(&x.log_softmax(-3).unwrap_err(), "log_softmax", "[2, 3]");
    assert_error_mentions(&Tensor::scalar(1.0).softmax(0).unwrap_err(), "softmax", "[]");
}

#[test]
fn row_functions_in_place() {
    let mut row = [1.0, 1.0, 1.0, 1.0];
    softmax_row(&mut row);
    assert_eq!(row, [0.25; 4]);

    let mut masked = [NEG_INF, NEG_INF];
    log_softmax_row(&mut masked);
    assert_eq!(masked, [NEG_INF, NEG_INF]);
}
