//! `Tensor::matmul` with the default kernel: hand-computed products and shape errors.

mod common;

use aigc_tensor::Tensor;
use common::{assert_names_op_and_shapes, tensor};

#[test]
fn two_by_three_times_three_by_two() {
    let a = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = tensor(&[7.0, 8.0, 9.0, 10.0, 11.0, 12.0], &[3, 2]);

    let c = a.matmul(&b).unwrap();

    // [1·7 + 2·9 + 3·11, 1·8 + 2·10 + 3·12], [4·7 + 5·9 + 6·11, 4·8 + 5·10 + 6·12]
    assert_eq!(c.shape(), &[2, 2]);
    assert_eq!(c.to_vec(), vec![58.0, 64.0, 139.0, 154.0]);
}

#[test]
fn identity_leaves_matrix_unchanged() {
    let a = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);

    assert_eq!(a.matmul(&Tensor::eye(3)).unwrap().to_vec(), a.to_vec());
    assert_eq!(Tensor::eye(2).matmul(&a).unwrap().to_vec(), a.to_vec());
}

#[test]
fn eye_values() {
    assert_eq!(Tensor::eye(2).to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
    assert_eq!(Tensor::eye(0).shape(), &[0, 0]);
}

#[test]
fn transposed_operand() {
    let a = tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);

    let gram = a.t().unwrap().matmul(&a).unwrap();

    // aᵀ·a = [[1·1 + 3·3, 1·2 + 3·4], [2·1 + 4·3, 2·2 + 4·4]]
    assert_eq!(gram.to_vec(), vec![10.0, 14.0, 14.0, 20.0]);
}

#[test]
fn batched_with_broadcast_batch() {
    // Batch of two matrices times one shared matrix (batch axis 1 broadcasts).
    let a = tensor(&[1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 2.0], &[2, 2, 2]);
    let b = tensor(&[1.0, 2.0, 3.0, 4.0], &[1, 2, 2]);

    let c = a.matmul(&b).unwrap();

    assert_eq!(c.shape(), &[2, 2, 2]);
    assert_eq!(c.to_vec(), vec![1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0]);
}

#[test]
fn batched_times_plain_matrix() {
    let a = Tensor::ones(&[3, 2, 4]);
    let b = Tensor::ones(&[4, 5]);

    let c = a.matmul(&b).unwrap();

    assert_eq!(c.shape(), &[3, 2, 5]);
    assert!(c.to_vec().iter().all(|&v| v == 4.0));
}

#[test]
fn inner_size_zero_gives_zeros() {
    let c = Tensor::zeros(&[2, 0]).matmul(&Tensor::zeros(&[0, 3])).unwrap();

    assert_eq!(c.shape(), &[2, 3]);
    assert_eq!(c.to_vec(), vec![0.0; 6]);
}

#[test]
fn fewer_than_two_axes_is_an_error() {
    let err = Tensor::ones(&[3]).matmul(&Tensor::ones(&[3, 2])).unwrap_err();
    assert_names_op_and_shapes(&err, "matmul", &[3], &[3, 2]);

    let err = Tensor::ones(&[2, 3]).matmul(&Tensor::ones(&[3])).unwrap_err();
    assert_names_op_and_shapes(&err, "matmul", &[2, 3], &[3]);
}

#[test]
fn inner_size_mismatch_is_an_error() {
    let err = Tensor::ones(&[2, 3]).matmul(&Tensor::ones(&[4, 2])).unwrap_err();

    assert_names_op_and_shapes(&err, "matmul", &[2, 3], &[4, 2]);
    assert!(err.to_string().contains("3 vs 4"), "{err}");
}

#[test]
fn batch_mismatch_names_full_shapes() {
    let err = Tensor::ones(&[2, 3, 4]).matmul(&Tensor::ones(&[5, 4, 6])).unwrap_err();

    assert_names_op_and_shapes(&err, "matmul", &[2, 3, 4], &[5, 4, 6]);
}
