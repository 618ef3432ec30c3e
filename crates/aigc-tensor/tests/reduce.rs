//! Reductions along an axis and over the whole tensor.

mod common;

use aigc_tensor::Tensor;
use common::{assert_error_mentions, tensor};

fn grid() -> Tensor {
    // [[1, 5, 3],
    //  [4, 2, 6]]
    tensor(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3])
}

#[test]
fn sum_each_axis() {
    let x = grid();

    assert_eq!(x.sum(0, false).unwrap().to_vec(), vec![5.0, 7.0, 9.0]);
    assert_eq!(x.sum(1, false).unwrap().to_vec(), vec![9.0, 12.0]);
    assert_eq!(x.sum(-1, false).unwrap().to_vec(), vec![9.0, 12.0]);
}

#[test]
fn keepdim_keeps_size_one_axis() {
    let x = grid();

    assert_eq!(x.sum(0, true).unwrap().shape(), &[1, 3]);
    assert_eq!(x.sum(1, true).unwrap().shape(), &[2, 1]);
    assert_eq!(x.mean(-1, true).unwrap().shape(), &[2, 1]);
    assert_eq!(x.max(0, true).unwrap().shape(), &[1, 3]);
    assert_eq!(x.argmax(1, true).unwrap().shape(), &[2, 1]);
}

#[test]
fn mean_each_axis() {
    let x = grid();

    assert_eq!(x.mean(0, false).unwrap().to_vec(), vec![2.5, 3.5, 4.5]);
    assert_eq!(x.mean(1, false).unwrap().to_vec(), vec![3.0, 4.0]);
}

#[test]
fn max_and_argmax_each_axis() {
    let x = grid();

    assert_eq!(x.max(0, false).unwrap().to_vec(), vec![4.0, 5.0, 6.0]);
    assert_eq!(x.max(1, false).unwrap().to_vec(), vec![5.0, 6.0]);
    assert_eq!(x.argmax(0, false).unwrap().to_vec(), vec![1.0, 0.0, 1.0]);
    assert_eq!(x.argmax(1, false).unwrap().to_vec(), vec![1.0, 2.0]);
}

#[test]
fn argmax_first_index_wins_ties() {
    let x = tensor(&[3.0, 7.0, 7.0, 1.0], &[4]);

    assert_eq!(x.argmax(0, false).unwrap().to_vec(), vec![1.0]);
}

#[test]
fn argmax_all_negative_infinity_is_zero() {
    let x = tensor(&[f32::NEG_INFINITY; 3], &[3]);

    assert_eq!(x.argmax(0, false).unwrap().to_vec(), vec![0.0]);
    assert_eq!(x.max(0, false).unwrap().to_vec(), vec![f32::NEG_INFINITY]);
}

#[test]
fn nan_is_the_maximum() {
    for (values, nan_index) in [([f32::NAN, 1.0, 2.0], 0.0), ([1.0, f32::NAN, 2.0], 1.0), ([1.0, 2.0, f32::NAN], 2.0)] {
        let x = tensor(&values, &[3]);

        assert_eq!(x.argmax(0, false).unwrap().to_vec(), vec![nan_index], "values {values:?}");
        assert!(x.max(0, false).unwrap().to_vec()[0].is_nan(), "values {values:?}");
        assert!(x.max_all().unwrap().is_nan(), "values {values:?}");
    }
}

#[test]
fn reductions_on_transposed_view() {
    let xt = grid().t().unwrap(); // [[1, 4], [5, 2], [3, 6]]

    assert_eq!(xt.sum(1, false).unwrap().to_vec(), vec![5.0, 7.0, 9.0]);
    assert_eq!(xt.argmax(1, false).unwrap().to_vec(), vec![1.0, 0.0, 1.0]);
}

#[test]
fn whole_tensor_reductions() {
    let x = grid();

    assert_eq!(x.sum_all().to_vec(), vec![21.0]);
    assert_eq!(x.sum_all().shape(), &[] as &[usize]);
    assert_eq!(x.mean_all().to_vec(), vec![3.5]);
    assert_eq!(x.max_all().unwrap(), 6.0);
    assert_eq!(x.sum_squares(), 91.0);
}

#[test]
fn empty_axis_sum_is_zero_and_mean_nan() {
    let x = Tensor::zeros(&[2, 0]);

    assert_eq!(x.sum(1, false).unwrap().to_vec(), vec![0.0, 0.0]);
    assert!(x.mean(1, false).unwrap().to_vec().iter().all(|v| v.is_nan()));
    assert_eq!(x.sum(0, false).unwrap().shape(), &[0]);
    assert!(x.mean_all().item().unwrap().is_nan());
    assert_eq!(x.sum_all().item().unwrap(), 0.0);
}

#[test]
fn max_over_empty_axis_is_an_error() {
    let x = Tensor::zeros(&[2, 0]);

    let err = x.max(1, false).unwrap_err();
    assert_error_mentions(&err, "max", "[2, 0]");

    let err = x.argmax(-1, false).unwrap_err();
    assert_error_mentions(&err, "argmax", "[2, 0]");

    let err = x.max_all().unwrap_err();
    assert_error_mentions(&err, "max_all", "empty");
}

#[test]
fn max_over_non_empty_axis_of_empty_tensor() {
    let x = Tensor::zeros(&[0, 3]);

    assert_eq!(x.max(1, false).unwrap().shape(), &[0]);
}

#[test]
fn axis_out_of_range_is_an_error() {
    let x = grid();

    for axis in [2, -3] {
        assert_error_mentions(&x.sum(axis, false).unwrap_err(), "sum", "[2, 3]");
        assert_error_mentions(&x.mean(axis, false).unwrap_err(), "mean", "[2, 3]");
        assert_error_mentions(&x.max(axis, false).unwrap_err(), "max", "[2, 3]");
        assert_error_mentions(&x.argmax(axis, false).unwrap_err(), "argmax", "[2, 3]");
    }
    assert_error_mentions(&x.sum(2, false).unwrap_err(), "sum", "axis 2");
}

#[test]
fn reducing_a_scalar_is_an_error() {
    let err = Tensor::scalar(1.0).sum(0, false).unwrap_err();

    assert_error_mentions(&err, "sum", "[]");
}
