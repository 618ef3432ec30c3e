//! Gradients of embedding lookup (gather_rows) and masking.

mod common;

use aigc_autograd::{Result, Var};
use aigc_tensor::Tensor;
use common::{assert_close, check, grad_of, random, tensor};

#[test]
fn gather_rows_gradcheck() -> Result<()> {
    let ids = tensor(&[3.0, 0.0, 2.0, 4.0], &[2, 2]);
    check(|v| v[0].gather_rows(&ids), &[random(&[5, 3], 1)])?;
    Ok(())
}

#[test]
fn gather_rows_repeated_ids_gradcheck() -> Result<()> {
    // Row 1 appears three times, row 0 never.
    let ids = tensor(&[1.0, 2.0, 1.0, 1.0], &[4]);
    check(|v| v[0].gather_rows(&ids), &[random(&[3, 2], 2)])?;
    Ok(())
}

#[test]
fn gather_rows_repeated_ids_accumulate() -> Result<()> {
    let table = Var::parameter(random(&[3, 2], 3));
    let ids = tensor(&[1.0, 1.0, 0.0], &[3]);

    table.gather_rows(&ids)?.sum_all().backward()?;

    // Row 0 is used once, row 1 twice, row 2 never.
    assert_close(&grad_of(&table), &tensor(&[1.0, 1.0, 2.0, 2.0, 0.0, 0.0], &[3, 2]));
    Ok(())
}

#[test]
fn gather_rows_bad_id_is_an_error() {
    let table = Var::parameter(random(&[3, 2], 4));
    for bad in [3.0, -1.0, 0.5] {
        let message = table.gather_rows(&tensor(&[0.0, bad], &[2])).unwrap_err().to_string();
        assert!(message.starts_with("gather_rows:"), "{message}");
        assert!(message.contains("0..3"), "{message}");
    }
}

#[test]
fn masked_fill_gradcheck() -> Result<()> {
    let mask = tensor(&[1.0, 0.0, 0.0, 1.0, 0.0, 1.0], &[2, 3]);
    check(|v| v[0].masked_fill(&mask, 0.0), &[random(&[2, 3], 5)])?;
    check(|v| v[0].masked_fill(&mask, 7.5), &[random(&[2, 3], 6)])?;
    Ok(())
}

#[test]
fn masked_fill_broadcast_mask_gradcheck() -> Result<()> {
    // A causal (T, T) mask shared by every batch entry.
    let mask = Tensor::causal_mask(3);
    check(|v| v[0].masked_fill(&mask, -5.0), &[random(&[2, 3, 3], 7)])?;
    Ok(())
}

#[test]
fn masked_fill_zeroes_masked_gradient() -> Result<()> {
    let x = Var::parameter(random(&[2, 2], 8));
    let mask = tensor(&[0.0, 1.0, 1.0, 0.0], &[2, 2]);

    x.masked_fill(&mask, 3.0)?.mul_scalar(2.0).sum_all().backward()?;

    assert_close(&grad_of(&x), &tensor(&[2.0, 0.0, 0.0, 2.0], &[2, 2]));
    Ok(())
}

#[test]
fn masked_fill_bad_mask_names_shapes() {
    let x = Var::parameter(random(&[2, 3], 9));
    let message = x.masked_fill(&tensor(&[1.0, 0.0], &[2]), 0.0).unwrap_err().to_string();
    assert!(message.starts_with("masked_fill:"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
    assert!(message.contains("[2]"), "{message}");
}
