//! Gradients of shape operations: reshape, permute, transpose, squeeze,
//! broadcast, narrow, split and concat.

mod common;

use aigc_autograd::{Result, Var};
use common::{assert_close, check, grad_of, random, tensor};

#[test]
fn reshape_gradcheck() -> Result<()> {
    check(|v| v[0].reshape(&[3, 2]), &[random(&[2, 3], 1)])?;
    check(|v| v[0].reshape(&[24]), &[random(&[2, 3, 4], 2)])?;
    Ok(())
}

#[test]
fn reshape_of_transposed_gradcheck() -> Result<()> {
    // Reshaping a non-contiguous view copies in row-major order of the view.
    check(|v| v[0].t()?.reshape(&[6]), &[random(&[2, 3], 3)])?;
    Ok(())
}

#[test]
fn permute_gradcheck() -> Result<()> {
    for axes in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]] {
        check(|v| v[0].permute(&axes), &[random(&[2, 3, 4], 4)])?;
    }
    Ok(())
}

#[test]
fn transpose_gradcheck() -> Result<()> {
    for (a, b) in [(0, 1), (0, 2), (-1, -3), (1, -1)] {
        check(|v| v[0].transpose(a, b), &[random(&[2, 3, 4], 5)])?;
    }
    Ok(())
}

#[test]
fn t_gradcheck() -> Result<()> {
    check(|v| v[0].t(), &[random(&[2, 3], 6)])?;
    check(|v| v[0].t(), &[random(&[2, 3, 4], 7)])?;
    Ok(())
}

#[test]
fn unsqueeze_gradcheck() -> Result<()> {
    for axis in [0, 1, 2, -1, -3] {
        check(|v| v[0].unsqueeze(axis), &[random(&[2, 3], 8)])?;
    }
    Ok(())
}

#[test]
fn squeeze_gradcheck() -> Result<()> {
    check(|v| v[0].squeeze(1), &[random(&[2, 1, 3], 9)])?;
    check(|v| v[0].squeeze(-1), &[random(&[3, 1], 10)])?;
    Ok(())
}

#[test]
fn broadcast_to_gradcheck() -> Result<()> {
    check(|v| v[0].broadcast_to(&[2, 3]), &[random(&[3], 11)])?;
    check(|v| v[0].broadcast_to(&[2, 3, 4]), &[random(&[3, 1], 12)])?;
    check(|v| v[0].broadcast_to(&[2, 3]), &[random(&[], 13)])?;
    Ok(())
}

#[test]
fn narrow_gradcheck() -> Result<()> {
    for (axis, start, len) in [(0, 1, 1), (1, 0, 2), (-1, 2, 2), (2, 0, 4), (1, 3, 0)] {
        check(|v| v[0].narrow(axis, start, len), &[random(&[2, 3, 4], 14)])?;
    }
    Ok(())
}

#[test]
fn split_gradcheck() -> Result<()> {
    // Weighting the pieces differently makes each one's gradient distinct.
    check(
        |v| {
            let pieces = v[0].split(-1, &[1, 3, 2])?;
            let first = pieces[0].mul_scalar(2.0);
            let last = pieces[2].exp();
            Var::concat(&[&last, &pieces[1], &first], -1)
        },
        &[random(&[2, 6], 15)],
    )?;
    Ok(())
}

#[test]
fn split_unused_piece_gets_zero_gradient() -> Result<()> {
    let x = Var::parameter(random(&[2, 4], 16));
    let pieces = x.split(0, &[1, 1])?;
    pieces[1].sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], &[2, 4]));
    Ok(())
}

#[test]
fn concat_gradcheck() -> Result<()> {
    for axis in [0, 1, -1] {
        let (a, b) = if axis == 0 {
            (random(&[1, 3], 17), random(&[2, 3], 18))
        } else {
            (random(&[2, 1], 17), random(&[2, 3], 18))
        };
        check(|v| Var::concat(&[&v[0], &v[1], &v[0]], axis), &[a, b])?;
    }
    Ok(())
}

#[test]
fn concat_with_constant_input() -> Result<()> {
    let x = Var::parameter(random(&[2, 2], 19));
    let c = Var::new(random(&[2, 1], 20));
    Var::concat(&[&c, &x], 1)?.sum_all().backward()?;
    assert!(c.grad().is_none());
    assert_close(&grad_of(&x), &tensor(&[1.0; 4], &[2, 2]));
    Ok(())
}

#[test]
fn narrow_hand_derived() -> Result<()> {
    // The gradient lands in the selected columns and is 0 elsewhere.
    let x = Var::parameter(random(&[2, 4], 21));
    x.narrow(1, 1, 2)?.mul_scalar(3.0).sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.0, 3.0, 3.0, 0.0, 0.0, 3.0, 3.0, 0.0], &[2, 4]));
    Ok(())
}

#[test]
fn permute_hand_derived() -> Result<()> {
    // L = Σ w ⊙ xᵀ, so ∂L/∂x = wᵀ.
    let x = Var::parameter(random(&[2, 3], 22));
    let w = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    x.permute(&[1, 0])?.mul(&Var::new(w))?.sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[1.0, 3.0, 5.0, 2.0, 4.0, 6.0], &[2, 3]));
    Ok(())
}

#[test]
fn shape_errors_name_shapes() {
    let x = Var::parameter(random(&[2, 3], 23));
    let errors = [
        x.reshape(&[4]).unwrap_err(),
        x.permute(&[0, 0]).unwrap_err(),
        x.squeeze(0).unwrap_err(),
        x.narrow(1, 2, 2).unwrap_err(),
        x.split(1, &[1, 1]).unwrap_err(),
        x.broadcast_to(&[3, 3]).unwrap_err(),
        Var::concat(&[&x, &Var::new(random(&[3, 2], 24))], 0).unwrap_err(),
    ];
    for error in errors {
        let message = error.to_string();
        assert!(message.contains("[2, 3]"), "{message}");
    }

    let message = Var::parameter(random(&[3], 25)).t().unwrap_err().to_string();
    assert!(message.starts_with("t:"), "{message}");
    assert!(message.contains("[3]"), "{message}");
}
