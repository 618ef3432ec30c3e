//! Element-wise arithmetic, broadcasting and the comparison helpers.

mod common;

use aigc_tensor::{broadcast_shape, Tensor};
use common::{assert_names_op_and_shapes, random, tensor};

#[test]
fn add_sub_mul_div_same_shape() {
    let a = tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let b = tensor(&[10.0, 20.0, 30.0, 40.0], &[2, 2]);

    assert_eq!(a.add(&b).unwrap().to_vec(), vec![11.0, 22.0, 33.0, 44.0]);
    assert_eq!(b.sub(&a).unwrap().to_vec(), vec![9.0, 18.0, 27.0, 36.0]);
    assert_eq!(a.mul(&b).unwrap().to_vec(), vec![10.0, 40.0, 90.0, 160.0]);
    assert_eq!(b.div(&a).unwrap().to_vec(), vec![10.0, 10.0, 10.0, 10.0]);
}

#[test]
fn add_broadcasts_row_and_column() {
    let column = tensor(&[1.0, 2.0], &[2, 1]);
    let row = tensor(&[10.0, 20.0, 30.0], &[3]);

    let sum = column.add(&row).unwrap();

    assert_eq!(sum.shape(), &[2, 3]);
    assert_eq!(sum.to_vec(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
}

#[test]
fn sub_broadcasts_scalar_either_side() {
    let a = tensor(&[1.0, 2.0, 3.0], &[3]);
    let five = Tensor::scalar(5.0);

    assert_eq!(a.sub(&five).unwrap().to_vec(), vec![-4.0, -3.0, -2.0]);
    assert_eq!(five.sub(&a).unwrap().to_vec(), vec![4.0, 3.0, 2.0]);
    assert_eq!(five.sub(&a).unwrap().shape(), &[3]);
}

#[test]
fn size_one_operand_with_more_axes_widens_result() {
    let a = tensor(&[1.0, 2.0, 3.0], &[3]);
    let one = tensor(&[10.0], &[1, 1]);

    let sum = a.add(&one).unwrap();

    assert_eq!(sum.shape(), &[1, 3]);
    assert_eq!(sum.to_vec(), vec![11.0, 12.0, 13.0]);
}

#[test]
fn broadcast_with_empty_axis() {
    let empty = Tensor::zeros(&[0, 3]);
    let row = tensor(&[1.0, 2.0, 3.0], &[1, 3]);

    let sum = empty.add(&row).unwrap();

    assert_eq!(sum.shape(), &[0, 3]);
    assert_eq!(sum.numel(), 0);
}

#[test]
fn ops_on_non_contiguous_views() {
    let a = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let at = a.t().unwrap(); // [[1, 4], [2, 5], [3, 6]]
    let b = tensor(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], &[3, 2]);

    assert_eq!(at.add(&b).unwrap().to_vec(), vec![2.0, 5.0, 3.0, 6.0, 4.0, 7.0]);
    assert_eq!(at.mul_scalar(2.0).to_vec(), vec![2.0, 8.0, 4.0, 10.0, 6.0, 12.0]);
    assert_eq!(at.map(|x| x - 1.0).shape(), &[3, 2]);
}

#[test]
fn large_tensors_match_small_path() {
    // 70_000 elements exceed the parallel threshold of 2^16.
    let a = random(&[70, 1000], 1);
    let b = random(&[70, 1000], 2);

    let sum = a.add(&b).unwrap();
    let expected: Vec<f32> = a.to_vec().iter().zip(b.to_vec()).map(|(x, y)| x + y).collect();

    assert_eq!(sum.to_vec(), expected);
}

#[test]
fn maximum_broadcasts_and_propagates_nan() {
    let a = tensor(&[1.0, 5.0, f32::NAN], &[3]);
    let b = tensor(&[2.0], &[1]);

    let out = a.maximum(&b).unwrap().to_vec();

    assert_eq!(out[0], 2.0);
    assert_eq!(out[1], 5.0);
    assert!(out[2].is_nan());
}

#[test]
fn scalar_ops() {
    let a = tensor(&[1.0, -2.0], &[2]);

    assert_eq!(a.add_scalar(0.5).to_vec(), vec![1.5, -1.5]);
    assert_eq!(a.mul_scalar(-3.0).to_vec(), vec![-3.0, 6.0]);
}

#[test]
fn add_scaled_inplace_same_shape_and_broadcast() {
    let mut a = tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    a.add_scaled_inplace(&tensor(&[1.0, 1.0, 1.0, 1.0], &[2, 2]), 2.0).unwrap();
    assert_eq!(a.to_vec(), vec![3.0, 4.0, 5.0, 6.0]);

    a.add_scaled_inplace(&tensor(&[10.0, 20.0], &[2]), -0.1).unwrap();
    assert_eq!(a.to_vec(), vec![2.0, 2.0, 4.0, 4.0]);
}

#[test]
fn add_scaled_inplace_leaves_clones_untouched() {
    let original = tensor(&[1.0, 2.0], &[2]);
    let mut updated = original.clone();

    updated.add_scaled_inplace(&tensor(&[1.0, 1.0], &[2]), 1.0).unwrap();

    assert_eq!(updated.to_vec(), vec![2.0, 3.0]);
    assert_eq!(original.to_vec(), vec![1.0, 2.0]);
}

#[test]
fn add_scaled_inplace_into_transposed_view() {
    let mut at = tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).t().unwrap(); // [[1, 3], [2, 4]]

    at.add_scaled_inplace(&tensor(&[10.0, 20.0, 30.0, 40.0], &[2, 2]), 1.0).unwrap();

    assert_eq!(at.shape(), &[2, 2]);
    assert_eq!(at.to_vec(), vec![11.0, 23.0, 32.0, 44.0]);
}

#[test]
fn add_scaled_inplace_rejects_wider_operand() {
    let mut a = Tensor::zeros(&[3]);

    let err = a.add_scaled_inplace(&Tensor::ones(&[2, 3]), 1.0).unwrap_err();

    assert_names_op_and_shapes(&err, "add_scaled_inplace", &[3], &[2, 3]);
}

#[test]
fn binary_op_errors_name_op_and_shapes() {
    let a = Tensor::zeros(&[2, 3]);
    let b = Tensor::zeros(&[4]);

    for (op, result) in [
        ("add", a.add(&b)),
        ("sub", a.sub(&b)),
        ("mul", a.mul(&b)),
        ("div", a.div(&b)),
        ("maximum", a.maximum(&b)),
    ] {
        assert_names_op_and_shapes(&result.unwrap_err(), op, &[2, 3], &[4]);
    }
}

#[test]
fn broadcast_shape_rules() {
    assert_eq!(broadcast_shape("test", &[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
    assert_eq!(broadcast_shape("test", &[], &[5]).unwrap(), vec![5]);
    assert_eq!(broadcast_shape("test", &[0], &[1]).unwrap(), vec![0]);

    let err = broadcast_shape("test", &[2, 3], &[3, 2]).unwrap_err();
    assert_names_op_and_shapes(&err, "test", &[2, 3], &[3, 2]);
}

#[test]
fn broadcast_to_stretches_and_rejects() {
    let row = tensor(&[1.0, 2.0], &[2]);

    let stretched = row.broadcast_to(&[3, 2]).unwrap();
    assert_eq!(stretched.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);

    let err = row.broadcast_to(&[2, 3]).unwrap_err();
    assert_names_op_and_shapes(&err, "broadcast_to", &[2], &[2, 3]);
}

#[test]
fn sum_to_shape_undoes_broadcast() {
    let grad = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);

    assert_eq!(grad.sum_to_shape(&[3]).unwrap().to_vec(), vec![5.0, 7.0, 9.0]);
    assert_eq!(grad.sum_to_shape(&[1, 3]).unwrap().shape(), &[1, 3]);
    assert_eq!(grad.sum_to_shape(&[2, 1]).unwrap().to_vec(), vec![6.0, 15.0]);
    assert_eq!(grad.sum_to_shape(&[2, 1]).unwrap().shape(), &[2, 1]);
    assert_eq!(grad.sum_to_shape(&[]).unwrap().to_vec(), vec![21.0]);
    assert_eq!(grad.sum_to_shape(&[]).unwrap().shape(), &[] as &[usize]);
    assert_eq!(grad.sum_to_shape(&[2, 3]).unwrap().to_vec(), grad.to_vec());
}

#[test]
fn sum_to_shape_three_axes() {
    let grad = Tensor::ones(&[2, 3, 4]);

    let summed = grad.sum_to_shape(&[3, 1]).unwrap();

    assert_eq!(summed.shape(), &[3, 1]);
    assert_eq!(summed.to_vec(), vec![8.0, 8.0, 8.0]);
}

#[test]
fn sum_to_shape_of_empty_axis_gives_zeros() {
    let grad = Tensor::zeros(&[0, 3]);

    let summed = grad.sum_to_shape(&[1, 3]).unwrap();

    assert_eq!(summed.shape(), &[1, 3]);
    assert_eq!(summed.to_vec(), vec![0.0, 0.0, 0.0]);
}

#[test]
fn sum_to_shape_rejects_shapes_that_do_not_broadcast() {
    let grad = Tensor::ones(&[2, 3]);

    for target in [&[2][..], &[3, 3], &[1, 2, 3], &[4, 2, 3]] {
        let err = grad.sum_to_shape(target).unwrap_err();
        assert_names_op_and_shapes(&err, "sum_to_shape", &[2, 3], target);
    }
}

#[test]
fn allclose_tolerances_and_special_values() {
    let a = tensor(&[1.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN], &[4]);
    let near = tensor(&[1.0 + 1e-6, f32::INFINITY, f32::NEG_INFINITY, f32::NAN], &[4]);
    let far = tensor(&[1.1, f32::INFINITY, f32::NEG_INFINITY, f32::NAN], &[4]);
    let flipped = tensor(&[1.0, f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NAN], &[4]);

    assert!(a.allclose(&near, 1e-5, 1e-5));
    assert!(!a.allclose(&far, 1e-5, 1e-5));
    assert!(!a.allclose(&flipped, 1e-5, 1e-5));
    assert!(!a.allclose(&a.reshape(&[2, 2]).unwrap(), 1e-5, 1e-5));
}

#[test]
fn max_abs_diff_special_values() {
    let a = tensor(&[1.0, f32::INFINITY, f32::NAN], &[3]);
    let b = tensor(&[1.5, f32::INFINITY, f32::NAN], &[3]);
    let one_nan = tensor(&[1.0, f32::INFINITY, 0.0], &[3]);

    assert_eq!(a.max_abs_diff(&b), 0.5);
    assert!(a.max_abs_diff(&one_nan).is_nan());
    assert_eq!(a.max_abs_diff(&Tensor::zeros(&[2])), f32::INFINITY);
}
