//! `Var::version` counts every change of a value and nothing else.

use aigc_autograd::Var;
use aigc_tensor::Tensor;

#[test]
fn version_counts_value_changes() {
    let w = Var::parameter(Tensor::zeros(&[2]));
    assert_eq!(w.version(), 0, "a new variable");
    w.set_value(Tensor::ones(&[2])).unwrap();
    assert_eq!(w.version(), 1, "after set_value");
    w.update_value(|value| value.as_slice_mut()[0] = 5.0);
    assert_eq!(w.version(), 2, "after update_value");
}

#[test]
fn version_ignores_reads_and_rejected_writes() {
    let w = Var::parameter(Tensor::zeros(&[2]));
    assert!(w.set_value(Tensor::ones(&[3])).is_err());
    let _ = (w.value(), w.shape(), w.grad());
    w.zero_grad();
    assert_eq!(w.version(), 0);
}

#[test]
fn clones_share_the_version() {
    let w = Var::parameter(Tensor::zeros(&[1]));
    let alias = w.clone();
    alias.set_value(Tensor::ones(&[1])).unwrap();
    assert_eq!(w.version(), 1);
}
