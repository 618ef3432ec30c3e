//! Row gathering and scattering, masks and one-hot encoding.

mod common;

use aigc_tensor::{ids_to_indices, Tensor};
use common::{assert_error_mentions, assert_names_op_and_shapes, tensor};

fn table() -> Tensor {
    // Three rows of two columns: row r is [10·r, 10·r + 1].
    tensor(&[0.0, 1.0, 10.0, 11.0, 20.0, 21.0], &[3, 2])
}

#[test]
fn gather_rows_picks_rows_in_order() {
    let ids = tensor(&[2.0, 0.0, 2.0], &[3]);

    let rows = table().gather_rows(&ids).unwrap();

    assert_eq!(rows.shape(), &[3, 2]);
    assert_eq!(rows.to_vec(), vec![20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
}

#[test]
fn gather_rows_keeps_id_shape() {
    let ids = tensor(&[1.0, 0.0, 2.0, 1.0], &[2, 2]);

    let rows = table().gather_rows(&ids).unwrap();

    assert_eq!(rows.shape(), &[2, 2, 2]);
    assert_eq!(rows.to_vec(), vec![10.0, 11.0, 0.0, 1.0, 20.0, 21.0, 10.0, 11.0]);
}

#[test]
fn gather_rows_from_transposed_table() {
    let transposed = tensor(&[0.0, 10.0, 20.0, 1.0, 11.0, 21.0], &[2, 3]).t().unwrap();

    let rows = transposed.gather_rows(&tensor(&[1.0], &[1])).unwrap();

    assert_eq!(rows.to_vec(), vec![10.0, 11.0]);
}

#[test]
fn gather_rows_with_no_ids() {
    let rows = table().gather_rows(&Tensor::zeros(&[0])).unwrap();

    assert_eq!(rows.shape(), &[0, 2]);
}

#[test]
fn gather_rows_rejects_invalid_ids() {
    for bad in [3.0, -1.0, 1.5, f32::NAN, f32::INFINITY] {
        let ids = tensor(&[0.0, bad], &[2]);

        let err = table().gather_rows(&ids).unwrap_err();

        assert_error_mentions(&err, "gather_rows", "flat position 1");
        assert_error_mentions(&err, "gather_rows", "0..3");
    }
}

#[test]
fn gather_rows_rejects_non_matrix_table() {
    let ids = tensor(&[0.0], &[1]);

    let err = Tensor::zeros(&[3]).gather_rows(&ids).unwrap_err();

    assert_names_op_and_shapes(&err, "gather_rows", &[3], &[1]);
}

#[test]
fn scatter_add_rows_accumulates_repeats() {
    let ids = tensor(&[2.0, 0.0, 2.0], &[3]);
    let grads = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);

    let table = grads.scatter_add_rows(&ids, 4).unwrap();

    assert_eq!(table.shape(), &[4, 2]);
    assert_eq!(table.to_vec(), vec![3.0, 4.0, 0.0, 0.0, 6.0, 8.0, 0.0, 0.0]);
}

#[test]
fn scatter_add_rows_is_adjoint_of_gather() {
    // Σ gather(T, ids) · G = Σ T · scatter_add(G, ids): the defining property
    // of a gradient, checked on a batch of ids.
    let table = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let ids = tensor(&[1.0, 1.0, 0.0, 2.0], &[2, 2]);
    let grads = tensor(&[0.5, -1.0, 2.0, 0.25, 1.0, 3.0, -2.0, 4.0], &[2, 2, 2]);

    let forward = table.gather_rows(&ids).unwrap().mul(&grads).unwrap().sum_all().item().unwrap();
    let backward = grads.scatter_add_rows(&ids, 3).unwrap().mul(&table).unwrap().sum_all().item().unwrap();

    assert!((forward - backward).abs() < 1e-5, "{forward} vs {backward}");
}

#[test]
fn scatter_add_rows_errors() {
    let ids = tensor(&[0.0, 1.0], &[2]);

    let err = Tensor::zeros(&[3, 2]).scatter_add_rows(&ids, 4).unwrap_err();
    assert_names_op_and_shapes(&err, "scatter_add_rows", &[3, 2], &[2]);

    let err = Tensor::zeros(&[2]).scatter_add_rows(&ids, 4).unwrap_err();
    assert_names_op_and_shapes(&err, "scatter_add_rows", &[2], &[2]);

    let err = Tensor::zeros(&[2, 2]).scatter_add_rows(&ids, 1).unwrap_err();
    assert_error_mentions(&err, "scatter_add_rows", "0..1");

    let err = Tensor::zeros(&[2, 2]).scatter_add_rows(&ids, usize::MAX).unwrap_err();
    assert_error_mentions(&err, "scatter_add_rows", "usize");
}

#[test]
fn masked_fill_with_broadcast_mask() {
    let scores = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let column_mask = tensor(&[0.0, 1.0, 0.0], &[3]);
    let row_mask = tensor(&[1.0, 0.0], &[2, 1]);

    let by_column = scores.masked_fill(&column_mask, -1.0).unwrap();
    let by_row = scores.masked_fill(&row_mask, f32::NEG_INFINITY).unwrap();

    assert_eq!(by_column.to_vec(), vec![1.0, -1.0, 3.0, 4.0, -1.0, 6.0]);
    assert_eq!(by_row.to_vec(), vec![f32::NEG_INFINITY; 3].into_iter().chain([4.0, 5.0, 6.0]).collect::<Vec<_>>());
}

#[test]
fn masked_fill_with_causal_mask_over_batch() {
    let scores = Tensor::zeros(&[2, 3, 3]);

    let masked = scores.masked_fill(&Tensor::causal_mask(3), f32::NEG_INFINITY).unwrap();

    let inf = f32::NEG_INFINITY;
    let one_batch = [0.0, inf, inf, 0.0, 0.0, inf, 0.0, 0.0, 0.0];
    assert_eq!(masked.to_vec(), [one_batch, one_batch].concat());
}

#[test]
fn masked_fill_rejects_mask_that_does_not_broadcast() {
    let scores = Tensor::zeros(&[2, 3]);

    for mask_shape in [&[2][..], &[3, 3], &[1, 2, 3]] {
        let err = scores.masked_fill(&Tensor::zeros(mask_shape), 0.0).unwrap_err();
        assert_names_op_and_shapes(&err, "masked_fill", &[2, 3], mask_shape);
    }
}

#[test]
fn causal_mask_values() {
    assert_eq!(Tensor::causal_mask(3).to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(Tensor::causal_mask(1).to_vec(), vec![0.0]);
    assert_eq!(Tensor::causal_mask(0).shape(), &[0, 0]);
}

#[test]
fn one_hot_rows() {
    let ids = tensor(&[2.0, 0.0, 1.0, 2.0], &[2, 2]);

    let encoded = Tensor::one_hot(&ids, 3).unwrap();

    assert_eq!(encoded.shape(), &[2, 2, 3]);
    assert_eq!(
        encoded.to_vec(),
        vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    );
}

#[test]
fn one_hot_rejects_invalid_ids() {
    let err = Tensor::one_hot(&tensor(&[3.0], &[1]), 3).unwrap_err();
    assert_error_mentions(&err, "one_hot", "id 3");

    let err = Tensor::one_hot(&tensor(&[0.0], &[1]), 0).unwrap_err();
    assert_error_mentions(&err, "one_hot", "0..0");
}

#[test]
fn ids_to_indices_names_caller() {
    assert_eq!(ids_to_indices("lookup", &tensor(&[0.0, 4.0], &[2]), 5).unwrap(), vec![0, 4]);

    let err = ids_to_indices("lookup", &tensor(&[-0.5], &[1]), 5).unwrap_err();
    assert_error_mentions(&err, "lookup", "-0.5");
}
