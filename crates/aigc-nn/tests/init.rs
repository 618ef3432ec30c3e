use aigc_nn::Init;
use aigc_tensor::Rng;

#[test]
fn normal_init_has_requested_std() {
    let values = Init::Normal { std: 0.02 }.tensor(&[200, 100], &mut Rng::seed(1)).to_vec();
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
    assert!(mean.abs() < 1e-3, "mean {mean}");
    assert!((std - 0.02).abs() < 0.02 * 0.03, "std {std}");
}

#[test]
fn glorot_uniform_uses_out_in_fans() {
    // (out, in) = (30, 10): a = √(6 / 40)
    let values = Init::GlorotUniform.tensor(&[30, 10], &mut Rng::seed(2)).to_vec();
    let limit = (6.0f32 / 40.0).sqrt();
    assert!(values.iter().all(|v| v.abs() <= limit));
    let max = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(max > 0.9 * limit, "values should fill the range, max |v| = {max}");
}

#[test]
fn constant_inits_fill_values() {
    let mut rng = Rng::seed(0);
    assert_eq!(Init::Zeros.tensor(&[2, 3], &mut rng).to_vec(), vec![0.0; 6]);
    assert_eq!(Init::Ones.tensor(&[4], &mut rng).to_vec(), vec![1.0; 4]);
}

#[test]
fn init_is_reproducible_from_seed() {
    let a = Init::GlorotUniform.tensor(&[5, 7], &mut Rng::seed(9));
    let b = Init::GlorotUniform.tensor(&[5, 7], &mut Rng::seed(9));
    assert_eq!(a.to_vec(), b.to_vec());
}

#[test]
fn init_handles_empty_shapes() {
    let mut rng = Rng::seed(0);
    assert_eq!(Init::GlorotUniform.tensor(&[0, 4], &mut rng).shape(), &[0, 4]);
    assert_eq!(Init::Normal { std: 1.0 }.tensor(&[], &mut rng).shape(), &[] as &[usize]);
}
