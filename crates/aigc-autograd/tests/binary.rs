//! Gradients of broadcasting arithmetic: add, sub, mul, div and their scalar forms.

mod common;

use aigc_autograd::{Result, Var};
use common::{assert_close, away_from_zero, check, grad_of, random, tensor};

/// Shape pairs that cover equal shapes, a missing leading axis, size-1 axes
/// on both sides, and a 0-dimensional operand.
const BROADCAST_CASES: [(&[usize], &[usize]); 5] =
    [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[3], &[2, 3]), (&[2, 1, 4], &[3, 1]), (&[2, 3], &[])];

#[test]
fn add_gradcheck() -> Result<()> {
    for (shape_a, shape_b) in BROADCAST_CASES {
        check(|v| v[0].add(&v[1]), &[random(shape_a, 1), random(shape_b, 2)])?;
    }
    Ok(())
}

#[test]
fn sub_gradcheck() -> Result<()> {
    for (shape_a, shape_b) in BROADCAST_CASES {
        check(|v| v[0].sub(&v[1]), &[random(shape_a, 3), random(shape_b, 4)])?;
    }
    Ok(())
}

#[test]
fn mul_gradcheck() -> Result<()> {
    for (shape_a, shape_b) in BROADCAST_CASES {
        check(|v| v[0].mul(&v[1]), &[random(shape_a, 5), random(shape_b, 6)])?;
    }
    Ok(())
}

#[test]
fn div_gradcheck() -> Result<()> {
    for (shape_a, shape_b) in BROADCAST_CASES {
        // Denominators stay at least 0.2 away from the pole at 0.
        check(|v| v[0].div(&v[1]), &[random(shape_a, 7), away_from_zero(shape_b, 8)])?;
    }
    Ok(())
}

#[test]
fn add_scalar_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].add_scalar(2.5)), &[random(&[2, 3], 9)])?;
    Ok(())
}

#[test]
fn mul_scalar_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].mul_scalar(-1.5)), &[random(&[2, 3], 10)])?;
    Ok(())
}

#[test]
fn mul_same_var_gradcheck() -> Result<()> {
    // x · x uses one input twice, so both backward terms land on it.
    check(|v| v[0].mul(&v[0]), &[random(&[3, 2], 11)])?;
    Ok(())
}

#[test]
fn mul_hand_derived() -> Result<()> {
    // L = Σ x ⊙ y: ∂L/∂x = y and ∂L/∂y = x.
    let x = Var::parameter(tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    let y = Var::parameter(tensor(&[5.0, -6.0, 7.0, 0.5], &[2, 2]));

    x.mul(&y)?.sum_all().backward()?;

    assert_close(&grad_of(&x), &y.value());
    assert_close(&grad_of(&y), &x.value());
    Ok(())
}

#[test]
fn div_hand_derived() -> Result<()> {
    // L = Σ a / b: ∂L/∂a = 1/b and ∂L/∂b = -a/b².
    let a = Var::parameter(tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    let b = Var::parameter(tensor(&[2.0, 4.0, -1.0, 0.5], &[2, 2]));

    a.div(&b)?.sum_all().backward()?;

    assert_close(&grad_of(&a), &tensor(&[0.5, 0.25, -1.0, 2.0], &[2, 2]));
    assert_close(&grad_of(&b), &tensor(&[-0.25, -0.125, -3.0, -16.0], &[2, 2]));
    Ok(())
}

#[test]
fn broadcast_add_sums_gradient_back() -> Result<()> {
    // (2, 3) + (3,): each element of b is used by both rows.
    let a = Var::parameter(random(&[2, 3], 12));
    let b = Var::parameter(random(&[3], 13));

    a.add(&b)?.sum_all().backward()?;

    assert_close(&grad_of(&a), &tensor(&[1.0; 6], &[2, 3]));
    assert_close(&grad_of(&b), &tensor(&[2.0, 2.0, 2.0], &[3]));
    Ok(())
}

#[test]
fn broadcast_sub_negates_and_sums() -> Result<()> {
    // (2, 1) - (1, 3) → (2, 3): a's rows span 3 columns, b's columns span 2 rows.
    let a = Var::parameter(random(&[2, 1], 14));
    let b = Var::parameter(random(&[1, 3], 15));

    a.sub(&b)?.sum_all().backward()?;

    assert_close(&grad_of(&a), &tensor(&[3.0, 3.0], &[2, 1]));
    assert_close(&grad_of(&b), &tensor(&[-2.0, -2.0, -2.0], &[1, 3]));
    Ok(())
}

#[test]
fn constant_operand_gets_no_gradient() -> Result<()> {
    let x = Var::parameter(random(&[2, 2], 16));
    let c = Var::new(random(&[2, 2], 17));

    x.mul(&c)?.sum_all().backward()?;

    assert!(c.grad().is_none());
    assert_close(&grad_of(&x), &c.value());
    Ok(())
}

#[test]
fn mismatched_shapes_error_names_both() {
    let a = Var::parameter(random(&[2, 3], 18));
    let b = Var::parameter(random(&[4], 19));

    let message = a.add(&b).unwrap_err().to_string();

    assert!(message.starts_with("add:"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
    assert!(message.contains("[4]"), "{message}");
}
