mod common;

use aigc_autograd::Var;
use aigc_nn::{Embedding, Init, Module, ParamKind};
use aigc_tensor::{Rng, Tensor};
use common::{assert_gradients, randn};

fn table() -> Embedding {
    let weight = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[4, 3]).unwrap();
    Embedding { weight: Var::parameter(weight) }
}

#[test]
fn embedding_looks_up_rows() {
    let ids = Tensor::from_vec(vec![2.0, 0.0, 2.0, 3.0], &[2, 2]).unwrap();
    let y = table().forward_ids(&ids).unwrap();
    assert_eq!(y.shape(), vec![2, 2, 3]);
    assert_eq!(y.value().to_vec(), vec![6.0, 7.0, 8.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
}

#[test]
fn embedding_gradcheck_repeated_ids() {
    let ids = Tensor::from_vec(vec![1.0, 3.0, 1.0, 1.0, 0.0, 3.0], &[2, 3]).unwrap();
    let weight = randn(&[5, 4], 1.0, 1);
    assert_gradients(|v| Embedding { weight: v[0].clone() }.forward_ids(&ids), &[weight]);
}

#[test]
fn embedding_repeated_ids_sum_gradients() {
    let layer = table();
    let ids = Tensor::from_vec(vec![1.0, 1.0, 1.0, 2.0], &[4]).unwrap();
    layer.forward_ids(&ids).unwrap().sum_all().backward().unwrap();
    let grad = layer.weight.grad().unwrap().to_vec();
    assert_eq!(grad, vec![0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn embedding_rejects_invalid_ids() {
    let layer = table();
    for bad in [4.0, -1.0, 1.5, f32::NAN] {
        let ids = Tensor::from_vec(vec![0.0, bad], &[2]).unwrap();
        let message = layer.forward_ids(&ids).unwrap_err().to_string();
        assert!(message.starts_with("embedding:"), "{message}");
        assert!(message.contains(&format!("id {bad}")), "{message}");
        assert!(message.contains("position 1"), "{message}");
        assert!(message.contains("0..4"), "{message}");
    }
}

#[test]
fn embedding_module_forward_reads_ids() {
    let ids = Var::new(Tensor::from_vec(vec![3.0], &[1]).unwrap());
    assert_eq!(table().forward(&ids).unwrap().value().to_vec(), vec![9.0, 10.0, 11.0]);
}

#[test]
fn embedding_parameter_name_and_kind() {
    let layer = Embedding::new(10, 4, Init::Normal { std: 0.02 }, &mut Rng::seed(0));
    let parameters = layer.parameters();
    assert_eq!(parameters.len(), 1);
    assert_eq!(parameters[0].name, "weight");
    assert_eq!(parameters[0].kind, ParamKind::Embedding);
    assert_eq!((layer.num_embeddings(), layer.dim()), (10, 4));
}
