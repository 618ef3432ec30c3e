//! Reshape, permute, transpose, narrow, concat, stack, split, squeeze and
//! unsqueeze, and which of them share storage.

mod common;

use aigc_tensor::Tensor;
use common::{assert_error_mentions, assert_names_op_and_shapes, tensor};

fn counting(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::arange(n).reshape(shape).unwrap()
}

fn first_element(t: &Tensor) -> *const f32 {
    t.view().as_ptr()
}

#[test]
fn reshape_contiguous_is_a_view() {
    let x = counting(&[2, 3]);

    let y = x.reshape(&[3, 2]).unwrap();

    assert_eq!(y.shape(), &[3, 2]);
    assert_eq!(y.to_vec(), x.to_vec());
    assert_eq!(first_element(&y), first_element(&x));
}

#[test]
fn reshape_transposed_view_reads_logical_order() {
    let xt = counting(&[2, 3]).t().unwrap(); // [[0, 3], [1, 4], [2, 5]]

    let flat = xt.reshape(&[6]).unwrap();

    assert_eq!(flat.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert!(flat.is_contiguous());
}

#[test]
fn reshape_narrowed_view() {
    let x = counting(&[3, 4]);
    let middle = x.narrow(1, 1, 2).unwrap(); // [[1, 2], [5, 6], [9, 10]]

    let reshaped = middle.reshape(&[2, 3]).unwrap();

    assert_eq!(reshaped.to_vec(), vec![1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
}

#[test]
fn reshape_to_and_from_scalar_and_empty() {
    assert_eq!(Tensor::scalar(4.0).reshape(&[1, 1]).unwrap().to_vec(), vec![4.0]);
    assert_eq!(tensor(&[4.0], &[1]).reshape(&[]).unwrap().shape(), &[] as &[usize]);
    assert_eq!(Tensor::zeros(&[0, 3]).reshape(&[3, 0, 5]).unwrap().shape(), &[3, 0, 5]);
}

#[test]
fn reshape_count_mismatch_is_an_error() {
    let err = counting(&[2, 3]).reshape(&[4, 2]).unwrap_err();

    assert_names_op_and_shapes(&err, "reshape", &[2, 3], &[4, 2]);
}

#[test]
fn reshape_overflowing_shape_is_an_error() {
    let err = counting(&[2, 3]).reshape(&[usize::MAX, 2]).unwrap_err();
    assert_error_mentions(&err, "reshape", "usize");

    let err = Tensor::zeros(&[0]).reshape(&[0, usize::MAX]).unwrap_err();
    assert_error_mentions(&err, "reshape", "[0, 18446744073709551615]");
}

#[test]
fn from_vec_overflowing_shape_is_an_error() {
    let err = Tensor::from_vec(vec![], &[usize::MAX, usize::MAX]).unwrap_err();
    assert_error_mentions(&err, "from_vec", "usize");

    let err = Tensor::from_vec(vec![], &[0, usize::MAX]).unwrap_err();
    assert_error_mentions(&err, "from_vec", "[0, 18446744073709551615]");
}

#[test]
fn from_vec_length_mismatch_is_an_error() {
    let err = Tensor::from_vec(vec![1.0; 5], &[2, 3]).unwrap_err();

    assert_names_op_and_shapes(&err, "from_vec", &[5], &[2, 3]);
}

#[test]
fn permute_moves_axes_as_a_view() {
    let x = counting(&[2, 3, 4]);

    let p = x.permute(&[2, 0, 1]).unwrap();

    assert_eq!(p.shape(), &[4, 2, 3]);
    assert_eq!(first_element(&p), first_element(&x));
    // p[i, j, k] = x[j, k, i] = 12·j + 4·k + i
    assert_eq!(p.contiguous().to_vec()[..6], [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
    assert_eq!(p.to_vec()[6..9], [1.0, 5.0, 9.0]);
}

#[test]
fn permute_rejects_non_permutations() {
    let x = counting(&[2, 3, 4]);

    for axes in [&[0, 1][..], &[0, 1, 1], &[0, 1, 3], &[0, 1, 2, 3]] {
        let err = x.permute(axes).unwrap_err();
        assert_names_op_and_shapes(&err, "permute", &[2, 3, 4], axes);
    }
}

#[test]
fn transpose_and_t() {
    let x = counting(&[2, 3]);

    let xt = x.t().unwrap();

    assert_eq!(xt.shape(), &[3, 2]);
    assert_eq!(xt.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert!(!xt.is_contiguous());
    assert_eq!(first_element(&xt), first_element(&x));
    assert_eq!(x.transpose(0, -1).unwrap().to_vec(), xt.to_vec());
    assert_eq!(x.transpose(1, 1).unwrap().to_vec(), x.to_vec());
}

#[test]
fn transpose_errors() {
    let x = counting(&[2, 3]);

    let err = x.transpose(0, 2).unwrap_err();
    assert_error_mentions(&err, "transpose", "[2, 3]");
    assert_error_mentions(&err, "transpose", "axis 2");

    let err = counting(&[3]).t().unwrap_err();
    assert_error_mentions(&err, "t", "[3]");
}

#[test]
fn narrow_is_a_view_at_the_right_offset() {
    let x = counting(&[3, 4]);

    let cols = x.narrow(1, 1, 2).unwrap();
    let rows = x.narrow(-2, 2, 1).unwrap();

    assert_eq!(cols.to_vec(), vec![1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
    assert_eq!(rows.to_vec(), vec![8.0, 9.0, 10.0, 11.0]);
    assert_eq!(first_element(&cols), first_element(&x).wrapping_add(1));
    assert_eq!(first_element(&rows), first_element(&x).wrapping_add(8));
}

#[test]
fn narrow_empty_range_at_end() {
    let x = counting(&[3, 4]);

    assert_eq!(x.narrow(1, 4, 0).unwrap().shape(), &[3, 0]);
}

#[test]
fn narrow_out_of_bounds_is_an_error() {
    let x = counting(&[3, 4]);

    for (start, len) in [(3, 2), (5, 0), (usize::MAX, 2), (1, usize::MAX)] {
        let err = x.narrow(1, start, len).unwrap_err();
        assert_error_mentions(&err, "narrow", "[3, 4]");
    }
    assert_error_mentions(&x.narrow(2, 0, 1).unwrap_err(), "narrow", "axis 2");
}

#[test]
fn writing_through_a_view_copies_first() {
    let x = counting(&[2, 3]);
    let mut row = x.narrow(0, 1, 1).unwrap();

    row.as_slice_mut()[0] = 100.0;

    assert_eq!(row.to_vec(), vec![100.0, 4.0, 5.0]);
    assert_eq!(x.to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn squeeze_and_unsqueeze() {
    let x = counting(&[2, 3]);

    let u = x.unsqueeze(1).unwrap();
    assert_eq!(u.shape(), &[2, 1, 3]);
    assert_eq!(first_element(&u), first_element(&x));
    assert_eq!(x.unsqueeze(2).unwrap().shape(), &[2, 3, 1]);
    assert_eq!(x.unsqueeze(-1).unwrap().shape(), &[2, 3, 1]);
    assert_eq!(x.unsqueeze(-3).unwrap().shape(), &[1, 2, 3]);

    let s = u.squeeze(1).unwrap();
    assert_eq!(s.shape(), &[2, 3]);
    assert_eq!(s.to_vec(), x.to_vec());
    assert_eq!(tensor(&[7.0], &[1]).squeeze(0).unwrap().shape(), &[] as &[usize]);
}

#[test]
fn squeeze_and_unsqueeze_errors() {
    let x = counting(&[2, 3]);

    let err = x.squeeze(0).unwrap_err();
    assert_error_mentions(&err, "squeeze", "[2, 3]");
    assert_error_mentions(&x.squeeze(2).unwrap_err(), "squeeze", "[2, 3]");

    for axis in [3, -4] {
        let err = x.unsqueeze(axis).unwrap_err();
        assert_error_mentions(&err, "unsqueeze", "[2, 3]");
        assert_error_mentions(&err, "unsqueeze", "-3..3");
    }
}

#[test]
fn concat_along_each_axis() {
    let a = counting(&[2, 2]);
    let b = tensor(&[10.0, 11.0], &[1, 2]);
    let c = tensor(&[20.0, 21.0], &[2, 1]);

    let rows = Tensor::concat(&[&a, &b], 0).unwrap();
    assert_eq!(rows.shape(), &[3, 2]);
    assert_eq!(rows.to_vec(), vec![0.0, 1.0, 2.0, 3.0, 10.0, 11.0]);

    let cols = Tensor::concat(&[&a, &c], -1).unwrap();
    assert_eq!(cols.shape(), &[2, 3]);
    assert_eq!(cols.to_vec(), vec![0.0, 1.0, 20.0, 2.0, 3.0, 21.0]);
}

#[test]
fn concat_of_views_and_empty_pieces() {
    let a = counting(&[2, 3]);
    let empty = Tensor::zeros(&[2, 0]);

    let joined = Tensor::concat(&[&a.narrow(1, 2, 1).unwrap(), &empty, &a.narrow(1, 0, 1).unwrap()], 1).unwrap();

    assert_eq!(joined.to_vec(), vec![2.0, 0.0, 5.0, 3.0]);
}

#[test]
fn concat_errors() {
    let a = counting(&[2, 3]);

    let err = Tensor::concat(&[&a, &counting(&[2, 3, 1])], 0).unwrap_err();
    assert_names_op_and_shapes(&err, "concat", &[2, 3], &[2, 3, 1]);

    let err = Tensor::concat(&[&a, &counting(&[2, 4])], 0).unwrap_err();
    assert_names_op_and_shapes(&err, "concat", &[2, 3], &[2, 4]);

    let err = Tensor::concat(&[&a, &a], 2).unwrap_err();
    assert_error_mentions(&err, "concat", "[2, 3]");

    let err = Tensor::concat(&[], 0).unwrap_err();
    assert_error_mentions(&err, "concat", "at least one");
}

#[test]
fn stack_inserts_new_axis() {
    let a = tensor(&[1.0, 2.0], &[2]);
    let b = tensor(&[3.0, 4.0], &[2]);

    let front = Tensor::stack(&[&a, &b], 0).unwrap();
    assert_eq!(front.shape(), &[2, 2]);
    assert_eq!(front.to_vec(), vec![1.0, 2.0, 3.0, 4.0]);

    let back = Tensor::stack(&[&a, &b], -1).unwrap();
    assert_eq!(back.shape(), &[2, 2]);
    assert_eq!(back.to_vec(), vec![1.0, 3.0, 2.0, 4.0]);

    let one = Tensor::stack(&[&a], 1).unwrap();
    assert_eq!(one.shape(), &[2, 1]);
}

#[test]
fn stack_errors() {
    let a = tensor(&[1.0, 2.0], &[2]);

    let err = Tensor::stack(&[&a, &Tensor::zeros(&[3])], 0).unwrap_err();
    assert_names_op_and_shapes(&err, "stack", &[2], &[3]);

    let err = Tensor::stack(&[&a, &a], 2).unwrap_err();
    assert_error_mentions(&err, "stack", "[2]");

    let err = Tensor::stack(&[], 0).unwrap_err();
    assert_error_mentions(&err, "stack", "at least one");
}

#[test]
fn split_gives_views() {
    let x = counting(&[2, 5]);

    let pieces = x.split(1, &[2, 0, 3]).unwrap();

    assert_eq!(pieces.len(), 3);
    assert_eq!(pieces[0].to_vec(), vec![0.0, 1.0, 5.0, 6.0]);
    assert_eq!(pieces[1].shape(), &[2, 0]);
    assert_eq!(pieces[2].to_vec(), vec![2.0, 3.0, 4.0, 7.0, 8.0, 9.0]);
    assert_eq!(first_element(&pieces[2]), first_element(&x).wrapping_add(2));
}

#[test]
fn split_errors() {
    let x = counting(&[2, 5]);

    let err = x.split(1, &[2, 2]).unwrap_err();
    assert_error_mentions(&err, "split", "[2, 5]");

    let err = x.split(1, &[usize::MAX, 6]).unwrap_err();
    assert_error_mentions(&err, "split", "[2, 5]");

    assert_error_mentions(&x.split(2, &[1]).unwrap_err(), "split", "axis 2");
}

#[test]
fn contiguous_copies_only_when_needed() {
    let x = counting(&[2, 3]);

    assert_eq!(first_element(&x.contiguous()), first_element(&x));

    let xt = x.t().unwrap().contiguous();
    assert!(xt.is_contiguous());
    assert_eq!(xt.as_slice().unwrap(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
}
