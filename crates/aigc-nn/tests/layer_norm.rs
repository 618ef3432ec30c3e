mod common;

use aigc_autograd::{Result, Var};
use aigc_nn::{LayerNorm, Module, ParamKind};
use aigc_tensor::Tensor;
use common::{assert_close, assert_gradients, randn};

/// LayerNorm from unfused autograd operations, as a reference.
fn composed(x: &Var, gamma: &Var, beta: &Var, eps: f32) -> Result<Var> {
    let mean = x.mean(-1, true)?;
    let centred = x.sub(&mean)?;
    let variance = centred.mul(&centred)?.mean(-1, true)?;
    let rstd = variance.add_scalar(eps).powf(-0.5);
    centred.mul(&rstd)?.mul(gamma)?.add(beta)
}

#[test]
fn layer_norm_rows_have_zero_mean_unit_variance() {
    let x = randn(&[4, 3, 16], 3.0, 1).add_scalar(5.0);
    let y = LayerNorm::new(16, true).forward(&Var::new(x)).unwrap().value();
    for row in y.to_vec().chunks(16) {
        let mean = row.iter().sum::<f32>() / 16.0;
        let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 16.0;
        assert!(mean.abs() < 1e-5, "mean {mean}");
        assert!((variance - 1.0).abs() < 1e-3, "variance {variance}");
    }
}

#[test]
fn layer_norm_gradcheck_x_gamma_beta() {
    let x = randn(&[2, 3, 5], 1.0, 2);
    let gamma = randn(&[5], 1.0, 3);
    let beta = randn(&[5], 1.0, 4);
    assert_gradients(
        |v| LayerNorm { weight: v[1].clone(), bias: Some(v[2].clone()), eps: 1e-5 }.forward(&v[0]),
        &[x, gamma, beta],
    );
}

#[test]
fn layer_norm_gradcheck_without_bias() {
    let x = randn(&[4, 6], 1.0, 5);
    let gamma = randn(&[6], 1.0, 6);
    assert_gradients(|v| LayerNorm { weight: v[1].clone(), bias: None, eps: 1e-5 }.forward(&v[0]), &[x, gamma]);
}

/// 512 rows of 160 cover the parallel path (more than 2¹⁶ elements).
#[test]
fn layer_norm_matches_composed_ops_on_large_input() {
    let (rows, dim) = (512, 160);
    let x = Var::parameter(randn(&[rows, dim], 2.0, 7));
    let gamma = Var::parameter(randn(&[dim], 1.0, 8));
    let beta = Var::parameter(randn(&[dim], 1.0, 9));
    let weights = Var::new(randn(&[rows, dim], 1.0, 10));

    let fused = LayerNorm { weight: gamma.clone(), bias: Some(beta.clone()), eps: 1e-5 }.forward(&x).unwrap();
    fused.mul(&weights).unwrap().sum_all().backward().unwrap();
    let fused_grads: Vec<Tensor> = [&x, &gamma, &beta].iter().map(|v| v.grad().unwrap()).collect();
    for v in [&x, &gamma, &beta] {
        v.zero_grad();
    }
    let reference = composed(&x, &gamma, &beta, 1e-5).unwrap();
    reference.mul(&weights).unwrap().sum_all().backward().unwrap();

    assert_close(&fused.value(), &reference.value(), 1e-4, "output");
    assert_close(&fused_grads[0], &x.grad().unwrap(), 1e-4, "dx");
    assert_close(&fused_grads[1], &gamma.grad().unwrap(), 2e-3, "dγ");
    assert_close(&fused_grads[2], &beta.grad().unwrap(), 2e-3, "dβ");
}

#[test]
fn layer_norm_only_x_requires_grad() {
    let ln = LayerNorm { weight: Var::new(Tensor::ones(&[3])), bias: None, eps: 1e-5 };
    let x = Var::parameter(randn(&[2, 3], 1.0, 11));
    ln.forward(&x).unwrap().mul(&Var::new(randn(&[2, 3], 1.0, 12))).unwrap().sum_all().backward().unwrap();
    assert_eq!(x.grad().unwrap().shape(), &[2, 3]);
}

#[test]
fn layer_norm_constant_row_is_finite() {
    let y = LayerNorm::new(4, true).forward(&Var::new(Tensor::full(&[2, 4], 3.0))).unwrap().value();
    assert_eq!(y.to_vec(), vec![0.0; 8]);
}

#[test]
fn layer_norm_error_names_op_and_shapes() {
    let message = LayerNorm::new(4, true).forward(&Var::new(Tensor::ones(&[2, 5]))).unwrap_err().to_string();
    assert!(message.starts_with("layer_norm:"), "{message}");
    assert!(message.contains("[2, 5]"), "{message}");
    assert!(message.contains("[4]"), "{message}");
}

#[test]
fn layer_norm_parameter_names_and_kinds() {
    let parameters = LayerNorm::new(8, true).parameters();
    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert!(parameters.iter().all(|p| p.kind == ParamKind::Norm));
    assert_eq!(parameters[0].var.value().to_vec(), vec![1.0; 8]);
    assert_eq!(LayerNorm::new(8, false).parameters().len(), 1);
}
