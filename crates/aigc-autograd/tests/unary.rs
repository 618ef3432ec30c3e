//! Gradients of element-wise functions of one variable.

mod common;

use aigc_autograd::{gradcheck, GradcheckOptions, Result, Var};
use aigc_tensor::Tensor;
use common::{assert_close, away_from_zero, check, grad_of, random, tensor, uniform};

#[test]
fn neg_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].neg()), &[random(&[2, 3], 1)])?;
    Ok(())
}

#[test]
fn exp_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].exp()), &[random(&[2, 3], 2)])?;
    Ok(())
}

#[test]
fn log_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].log()), &[uniform(&[2, 3], 0.5, 3.0, 3)])?;
    Ok(())
}

#[test]
fn sqrt_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].sqrt()), &[uniform(&[2, 3], 0.5, 3.0, 4)])?;
    Ok(())
}

#[test]
fn powf_gradcheck() -> Result<()> {
    // Fractional and negative exponents need positive bases.
    for p in [2.5, 0.5, -1.5, 1.0, 0.0] {
        check(|v| Ok(v[0].powf(p)), &[uniform(&[2, 3], 0.5, 2.0, 5)])?;
    }
    // Integer exponents are defined for negative bases too.
    for p in [2.0, 3.0] {
        check(|v| Ok(v[0].powf(p)), &[random(&[2, 3], 6)])?;
    }
    Ok(())
}

#[test]
fn tanh_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].tanh()), &[random(&[2, 3], 7)])?;
    Ok(())
}

#[test]
fn sigmoid_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].sigmoid()), &[random(&[2, 3], 8)])?;
    Ok(())
}

#[test]
fn relu_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].relu()), &[away_from_zero(&[3, 4], 9)])?;
    Ok(())
}

#[test]
fn abs_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].abs()), &[away_from_zero(&[3, 4], 10)])?;
    Ok(())
}

#[test]
fn gelu_gradcheck() -> Result<()> {
    // Wide inputs reach both tails, where GELU is ≈ 0 and ≈ x.
    check(|v| Ok(v[0].gelu()), &[uniform(&[3, 4], -4.0, 4.0, 11)])?;
    Ok(())
}

#[test]
fn gelu_tight_gradcheck() -> Result<()> {
    // The default rtol of 1e-2 would let a derivative that is 1 % off pass.
    // GELU is smooth and its inputs here are O(1), so the finite-difference
    // error stays near 1e-5 and a 10 times tighter tolerance still holds.
    let options = GradcheckOptions { atol: 2e-4, rtol: 1e-3, ..GradcheckOptions::default() };
    gradcheck(|v| Ok(v[0].gelu()), &[uniform(&[3, 4], -4.0, 4.0, 15)], options)?;
    Ok(())
}

#[test]
fn gelu_hand_derived() -> Result<()> {
    // gelu'(0) = ½, and far from 0 GELU is ≈ 0 on the left and ≈ x on the right.
    let x = Var::parameter(tensor(&[0.0, -8.0, 8.0], &[3]));
    x.gelu().sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.5, 0.0, 1.0], &[3]));
    Ok(())
}

#[test]
fn unary_on_transposed_input_gradcheck() -> Result<()> {
    // A transposed view is not contiguous: the backward must still pair
    // each input element with its own output element.
    check(|v| Ok(v[0].t()?.tanh()), &[random(&[2, 3], 12)])?;
    check(|v| Ok(v[0].t()?.exp()), &[random(&[3, 2], 13)])?;
    Ok(())
}

#[test]
fn chain_of_unary_gradcheck() -> Result<()> {
    // log(sigmoid(x)² + 1) composes three backward passes.
    check(|v| Ok(v[0].sigmoid().powf(2.0).add_scalar(1.0).log()), &[random(&[4], 14)])?;
    Ok(())
}

#[test]
fn relu_and_abs_at_zero_have_zero_gradient() -> Result<()> {
    let x = Var::parameter(tensor(&[-1.0, 0.0, 2.0], &[3]));
    x.relu().sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.0, 0.0, 1.0], &[3]));

    let y = Var::parameter(tensor(&[-1.0, 0.0, 2.0], &[3]));
    y.abs().sum_all().backward()?;
    assert_close(&grad_of(&y), &tensor(&[-1.0, 0.0, 1.0], &[3]));
    Ok(())
}

#[test]
fn exp_and_log_hand_derived() -> Result<()> {
    // ∂eˣ/∂x = eˣ and ∂ln x/∂x = 1/x.
    let x = Var::parameter(tensor(&[0.0, 1.0, -2.0], &[3]));
    x.exp().sum_all().backward()?;
    assert_close(&grad_of(&x), &x.value().exp());

    let y = Var::parameter(tensor(&[0.5, 2.0, 4.0], &[3]));
    y.log().sum_all().backward()?;
    assert_close(&grad_of(&y), &tensor(&[2.0, 0.5, 0.25], &[3]));
    Ok(())
}

#[test]
fn tanh_hand_derived() -> Result<()> {
    // ∂tanh x/∂x = 1 - tanh² x, which is 1 at 0.
    let x = Var::parameter(tensor(&[0.0, 1.0], &[2]));
    x.tanh().sum_all().backward()?;
    let t1 = 1.0f32.tanh();
    assert_close(&grad_of(&x), &Tensor::from_vec(vec![1.0, 1.0 - t1 * t1], &[2])?);
    Ok(())
}
