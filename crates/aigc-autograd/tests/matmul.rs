//! Gradients of matrix products: 2-D, batched, broadcast batch axes and
//! transposed (strided) operands.

mod common;

use aigc_autograd::{Result, Var};
use common::{assert_close, check, grad_of, random, tensor};

#[test]
fn matmul_2d_gradcheck() -> Result<()> {
    check(|v| v[0].matmul(&v[1]), &[random(&[3, 4], 1), random(&[4, 5], 2)])?;
    Ok(())
}

#[test]
fn matmul_vector_shapes_gradcheck() -> Result<()> {
    // (1, k)·(k, 1) and (m, 1)·(1, n): inner and outer products.
    check(|v| v[0].matmul(&v[1]), &[random(&[1, 4], 3), random(&[4, 1], 4)])?;
    check(|v| v[0].matmul(&v[1]), &[random(&[3, 1], 5), random(&[1, 2], 6)])?;
    Ok(())
}

#[test]
fn matmul_batched_3d_gradcheck() -> Result<()> {
    check(|v| v[0].matmul(&v[1]), &[random(&[2, 3, 4], 7), random(&[2, 4, 5], 8)])?;
    Ok(())
}

#[test]
fn matmul_batched_4d_gradcheck() -> Result<()> {
    // (B, H, T, D)·(B, H, D, T), as in attention scores.
    check(|v| v[0].matmul(&v[1]), &[random(&[2, 2, 3, 4], 9), random(&[2, 2, 4, 3], 10)])?;
    Ok(())
}

#[test]
fn matmul_broadcast_batch_gradcheck() -> Result<()> {
    // A shared weight (5, 6) applied to every (4, 5) matrix of a (2, 3) batch.
    check(|v| v[0].matmul(&v[1]), &[random(&[2, 3, 4, 5], 11), random(&[5, 6], 12)])?;
    // The left operand is the shared one.
    check(|v| v[0].matmul(&v[1]), &[random(&[3, 4], 13), random(&[2, 4, 2], 14)])?;
    // Size-1 batch axes on both sides: (3, 1) and (1, 2) broadcast to (3, 2).
    check(|v| v[0].matmul(&v[1]), &[random(&[3, 1, 2, 4], 15), random(&[1, 2, 4, 3], 16)])?;
    Ok(())
}

#[test]
fn matmul_transposed_operands_gradcheck() -> Result<()> {
    // x · wᵀ, as in a linear layer that stores w as (out, in).
    check(|v| v[0].matmul(&v[1].t()?), &[random(&[3, 4], 17), random(&[5, 4], 18)])?;
    // aᵀ · b and aᵀ · bᵀ.
    check(|v| v[0].t()?.matmul(&v[1]), &[random(&[4, 3], 19), random(&[4, 2], 20)])?;
    check(|v| v[0].t()?.matmul(&v[1].t()?), &[random(&[4, 3], 21), random(&[2, 4], 22)])?;
    // Batched q · kᵀ.
    check(|v| v[0].matmul(&v[1].t()?), &[random(&[2, 3, 4], 23), random(&[2, 5, 4], 24)])?;
    Ok(())
}

#[test]
fn matmul_same_operand_gradcheck() -> Result<()> {
    // x · xᵀ: both backward terms reach the one input.
    check(|v| v[0].matmul(&v[0].t()?), &[random(&[3, 4], 25)])?;
    Ok(())
}

#[test]
fn matmul_hand_derived() -> Result<()> {
    // L = Σ A·B: ∂L/∂A = 1·Bᵀ (row sums of B per column of A),
    // ∂L/∂B = Aᵀ·1 (column sums of A per row of B).
    let a = Var::parameter(tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    let b = Var::parameter(tensor(&[5.0, 6.0, 7.0, 8.0], &[2, 2]));

    a.matmul(&b)?.sum_all().backward()?;

    assert_close(&grad_of(&a), &tensor(&[11.0, 15.0, 11.0, 15.0], &[2, 2]));
    assert_close(&grad_of(&b), &tensor(&[4.0, 4.0, 6.0, 6.0], &[2, 2]));
    Ok(())
}

#[test]
fn matmul_constant_operand_gets_no_gradient() -> Result<()> {
    let x = Var::new(random(&[2, 3], 26));
    let w = Var::parameter(random(&[3, 4], 27));

    x.matmul(&w)?.sum_all().backward()?;

    assert!(x.grad().is_none());
    assert_eq!(grad_of(&w).shape(), &[3, 4]);
    Ok(())
}

#[test]
fn matmul_inner_mismatch_names_shapes() {
    let a = Var::parameter(random(&[2, 3], 28));
    let b = Var::parameter(random(&[4, 5], 29));

    let message = a.matmul(&b).unwrap_err().to_string();

    assert!(message.starts_with("matmul:"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
    assert!(message.contains("[4, 5]"), "{message}");
}
