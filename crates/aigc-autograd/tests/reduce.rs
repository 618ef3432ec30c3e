//! Gradients of reductions: sum, mean and max along an axis, and over everything.

mod common;

use aigc_autograd::{Result, Var};
use common::{assert_close, check, distinct, grad_of, random, tensor};

/// Every axis of a 3-D input, by positive and by negative index.
const AXES: [isize; 6] = [0, 1, 2, -1, -2, -3];

#[test]
fn sum_gradcheck() -> Result<()> {
    for axis in AXES {
        for keepdim in [false, true] {
            check(|v| v[0].sum(axis, keepdim), &[random(&[2, 3, 4], 1)])?;
        }
    }
    Ok(())
}

#[test]
fn mean_gradcheck() -> Result<()> {
    for axis in AXES {
        for keepdim in [false, true] {
            check(|v| v[0].mean(axis, keepdim), &[random(&[2, 3, 4], 2)])?;
        }
    }
    Ok(())
}

#[test]
fn max_gradcheck() -> Result<()> {
    for axis in AXES {
        for keepdim in [false, true] {
            check(|v| v[0].max(axis, keepdim), &[distinct(&[2, 3, 4], 3)])?;
        }
    }
    Ok(())
}

#[test]
fn reductions_of_1d_gradcheck() -> Result<()> {
    // Reducing the only axis gives a 0-dimensional output.
    let x = distinct(&[5], 4);
    check(|v| v[0].sum(0, false), std::slice::from_ref(&x))?;
    check(|v| v[0].mean(-1, false), std::slice::from_ref(&x))?;
    check(|v| v[0].max(0, false), &[x])?;
    Ok(())
}

#[test]
fn sum_all_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].sum_all()), &[random(&[2, 3, 4], 5)])?;
    check(|v| Ok(v[0].sum_all()), &[random(&[], 6)])?;
    Ok(())
}

#[test]
fn mean_all_gradcheck() -> Result<()> {
    check(|v| Ok(v[0].mean_all()), &[random(&[2, 3, 4], 7)])?;
    Ok(())
}

#[test]
fn mean_hand_derived() -> Result<()> {
    // ∂ mean(x)/∂xᵢ = 1/n along the reduced axis.
    let x = Var::parameter(random(&[2, 4], 8));
    x.mean(-1, false)?.sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.25; 8], &[2, 4]));

    let y = Var::parameter(random(&[2, 4], 9));
    y.mean_all().backward()?;
    assert_close(&grad_of(&y), &tensor(&[0.125; 8], &[2, 4]));
    Ok(())
}

#[test]
fn max_gradient_goes_to_argmax() -> Result<()> {
    // Rows [1, 5, 3] and [4, 2, 6]: the maxima sit at columns 1 and 2.
    let x = Var::parameter(tensor(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]));
    x.max(1, false)?.sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.0, 1.0, 0.0, 0.0, 0.0, 1.0], &[2, 3]));
    Ok(())
}

#[test]
fn max_tie_sends_gradient_to_first() -> Result<()> {
    let x = Var::parameter(tensor(&[2.0, 7.0, 7.0, 1.0], &[4]));
    x.max(0, false)?.backward()?;
    assert_close(&grad_of(&x), &tensor(&[0.0, 1.0, 0.0, 0.0], &[4]));
    Ok(())
}

#[test]
fn bad_axis_error_names_shape() {
    let x = Var::parameter(random(&[2, 3], 10));
    for result in [x.sum(2, false), x.mean(-3, true), x.max(5, false)] {
        let message = result.unwrap_err().to_string();
        assert!(message.contains("[2, 3]"), "{message}");
    }
}
