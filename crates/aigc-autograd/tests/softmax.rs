//! Gradients of softmax and log-softmax, including masked rows.

mod common;

use aigc_autograd::{Result, Var};
use aigc_tensor::Tensor;
use common::{assert_close, check, grad_of, random, tensor};

#[test]
fn softmax_gradcheck() -> Result<()> {
    for axis in [-1, 0, 1] {
        check(|v| v[0].softmax(axis), &[random(&[3, 4], 1)])?;
    }
    check(|v| v[0].softmax(-2), &[random(&[2, 3, 4], 2)])?;
    Ok(())
}

#[test]
fn log_softmax_gradcheck() -> Result<()> {
    for axis in [-1, 0, 1] {
        check(|v| v[0].log_softmax(axis), &[random(&[3, 4], 3)])?;
    }
    check(|v| v[0].log_softmax(1), &[random(&[2, 3, 4], 4)])?;
    Ok(())
}

#[test]
fn softmax_of_large_logits_gradcheck() -> Result<()> {
    // Logits near 50 overflow exp() unless the row maximum is subtracted.
    let logits = random(&[2, 3], 5).add_scalar(50.0);
    check(|v| v[0].softmax(-1), std::slice::from_ref(&logits))?;
    check(|v| v[0].log_softmax(-1), &[logits])?;
    Ok(())
}

#[test]
fn causal_masked_softmax_gradcheck() -> Result<()> {
    // Attention weights: scores above the diagonal are set to -∞.
    let mask = Tensor::causal_mask(4);
    check(|v| v[0].masked_fill(&mask, f32::NEG_INFINITY)?.softmax(-1), &[random(&[2, 4, 4], 6)])?;
    Ok(())
}

#[test]
fn fully_masked_row_has_zero_gradient() -> Result<()> {
    // The second row is masked entirely: softmax gives 0 there, not NaN,
    // and no gradient reaches it.
    let x = Var::parameter(random(&[2, 3], 7));
    let mask = tensor(&[0.0, 0.0, 1.0, 1.0, 1.0, 1.0], &[2, 3]);
    let weights = Var::new(random(&[2, 3], 8));

    let y = x.masked_fill(&mask, f32::NEG_INFINITY)?.softmax(-1)?;
    y.mul(&weights)?.sum_all().backward()?;

    let grad = grad_of(&x).to_vec();
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
    assert_eq!(&grad[2..], &[0.0, 0.0, 0.0, 0.0]);
    assert_ne!(grad[0], 0.0);
    Ok(())
}

#[test]
fn softmax_sum_has_zero_gradient() -> Result<()> {
    // Σ softmax(x) = 1 for any x, so its gradient is 0.
    let x = Var::parameter(random(&[2, 5], 9));
    x.softmax(-1)?.sum_all().backward()?;
    assert_close(&grad_of(&x), &Tensor::zeros(&[2, 5]));
    Ok(())
}

#[test]
fn log_softmax_hand_derived() -> Result<()> {
    // L = log_softmax(x)[k]: ∂L/∂x = onehot(k) - softmax(x).
    let x = Var::parameter(tensor(&[1.0, 2.0, 0.5], &[3]));
    let pick = Var::new(tensor(&[0.0, 1.0, 0.0], &[3]));

    x.log_softmax(-1)?.mul(&pick)?.sum_all().backward()?;

    let expected = pick.value().sub(&x.value().softmax(-1)?)?;
    assert_close(&grad_of(&x), &expected);
    Ok(())
}

#[test]
fn softmax_hand_derived() -> Result<()> {
    // Two equal logits: y = (½, ½) and ∂y₀/∂x = y₀(e₀ - y) = (¼, -¼).
    let x = Var::parameter(tensor(&[0.3, 0.3], &[2]));
    x.softmax(0)?.narrow(0, 0, 1)?.sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.25, -0.25], &[2]));
    Ok(())
}
