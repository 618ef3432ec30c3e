//! gradcheck itself: it passes correct backward passes and reports wrong
//! ones with the input and element that disagree.

mod common;

use aigc_autograd::{gradcheck, GradcheckOptions, Result, Var};
use aigc_tensor::Tensor;
use common::{check, random, tensor};

/// `2·x` whose backward is correct except at flat element `wrong`, where it
/// returns 3 in place of 2.
fn double_with_wrong_element(x: &Var, wrong: usize) -> Var {
    Var::from_op("double_with_wrong_element", x.value().mul_scalar(2.0), &[x], move |g| {
        let mut grad = g.mul_scalar(2.0);
        let slot = &mut grad.as_slice_mut()[wrong];
        *slot *= 1.5;
        Ok(vec![Some(grad)])
    })
}

#[test]
fn correct_backward_passes_with_report() -> Result<()> {
    let report = check(|v| v[0].mul(&v[1]), &[random(&[2, 3], 1), random(&[2, 3], 2)])?;
    assert_eq!(report.max_abs_error.len(), 2);
    assert_eq!(report.worst_index.len(), 2);
    assert!(report.max_abs_error.iter().all(|&e| e <= 1e-3), "{report:?}");
    Ok(())
}

#[test]
fn wrong_backward_names_input_and_element() {
    let error = check(|v| Ok(double_with_wrong_element(&v[0], 4)), &[random(&[2, 3], 3)]).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("gradcheck:"), "{message}");
    assert!(message.contains("input 0 (shape [2, 3]), element 4"), "{message}");
}

#[test]
fn wrong_backward_on_second_input_names_it() {
    // The first input's gradient is right, so the failure is reported on input 1.
    let error =
        check(|v| v[0].add(&double_with_wrong_element(&v[1], 2)), &[random(&[3], 4), random(&[3], 5)]).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("input 1 (shape [3]), element 2"), "{message}");
}

#[test]
fn missing_gradient_is_reported() {
    // A backward that returns None for an input that needs a gradient counts as 0.
    let error = check(
        |v| Ok(Var::from_op("forgets_input", v[0].value().exp(), &[&v[0]], |_| Ok(vec![None]))),
        &[random(&[2], 6)],
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("input 0 (shape [2]), element 0"), "{message}");
    assert!(message.contains("backward gives 0"), "{message}");
}

#[test]
fn sign_error_is_reported() {
    // The classic bug: ∂(a - b)/∂b written as +1.
    let error = check(
        |v| {
            let value = v[0].value().sub(&v[1].value())?;
            Ok(Var::from_op("sub_wrong_sign", value, &[&v[0], &v[1]], |g| Ok(vec![Some(g.clone()), Some(g.clone())])))
        },
        &[random(&[2], 7), random(&[2], 8)],
    )
    .unwrap_err();
    assert!(error.to_string().contains("input 1"), "{error}");
}

#[test]
fn small_error_within_tolerance_passes() -> Result<()> {
    // A backward off by 1e-4 passes the default atol of 1e-3 and fails a tighter one.
    let biased = |v: &[Var]| -> Result<Var> {
        Ok(Var::from_op("biased_identity", v[0].value(), &[&v[0]], |g| Ok(vec![Some(g.add_scalar(1e-4))])))
    };
    let x = tensor(&[1.0, 2.0], &[2]);

    check(biased, std::slice::from_ref(&x))?;

    let strict = GradcheckOptions { atol: 1e-6, rtol: 1e-6, ..GradcheckOptions::default() };
    assert!(gradcheck(biased, &[x], strict).is_err());
    Ok(())
}

#[test]
fn non_contiguous_input_is_accepted() -> Result<()> {
    // gradcheck copies inputs to row-major layout before perturbing them.
    let x = random(&[2, 3], 9).t()?;
    assert!(!x.is_contiguous());
    let report = check(|v| Ok(v[0].tanh()), &[x])?;
    assert_eq!(report.max_abs_error.len(), 1);
    Ok(())
}

#[test]
fn seed_changes_weights_not_verdict() -> Result<()> {
    for seed in [0, 1, 42] {
        let options = GradcheckOptions { seed, ..GradcheckOptions::default() };
        gradcheck(|v| v[0].softmax(-1), &[random(&[2, 3], 10)], options)?;
    }
    Ok(())
}

#[test]
fn scalar_input_and_output() -> Result<()> {
    check(|v| Ok(v[0].mul(&v[0])?.exp()), &[Tensor::scalar(0.3)])?;
    Ok(())
}
