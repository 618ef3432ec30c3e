//! Construction by name and the errors every optimizer reports.

mod common;

use aigc_autograd::Tensor;
use aigc_nn::{ParamKind, Parameter};
use aigc_optim::{optimizer_by_name, DEFAULT_ADAMW_WEIGHT_DECAY, OPTIMIZER_NAMES};
use common::{param, set_grad, values};

#[test]
fn by_name_accepts_every_listed_name() {
    for &name in OPTIMIZER_NAMES {
        let optimizer = optimizer_by_name(name, 1e-3).unwrap();
        assert_eq!(optimizer.name(), name);
        assert_eq!(optimizer.learning_rate(), 1e-3);
    }
}

#[test]
fn by_name_is_case_insensitive() {
    assert_eq!(optimizer_by_name("AdamW", 1e-3).unwrap().name(), "adamw");
    assert_eq!(optimizer_by_name("SGD", 1e-3).unwrap().name(), "sgd");
}

#[test]
fn by_name_adamw_uses_pytorch_default_decay() {
    let state = optimizer_by_name("adamw", 1e-3).unwrap().state();
    assert_eq!(state.hyperparameters["weight_decay"], DEFAULT_ADAMW_WEIGHT_DECAY);
    assert_eq!(DEFAULT_ADAMW_WEIGHT_DECAY, 0.01);
}

#[test]
fn unknown_name_lists_valid_names() {
    let err = optimizer_by_name("rmsprop", 1e-3).err().unwrap().to_string();
    assert!(err.contains("unknown optimizer `rmsprop`"), "{err}");
    assert!(err.contains("sgd, adam, adamw"), "{err}");
}

#[test]
fn by_name_invalid_learning_rate_is_error() {
    for lr in [-1.0, f32::NAN, f32::INFINITY] {
        let err = optimizer_by_name("adam", lr).err().unwrap().to_string();
        assert!(err.contains("invalid learning rate"), "{err}");
    }
}

#[test]
fn set_learning_rate_changes_next_step() {
    for &name in OPTIMIZER_NAMES {
        let mut optimizer = optimizer_by_name(name, 1e-3).unwrap();
        optimizer.set_learning_rate(0.5);
        assert_eq!(optimizer.learning_rate(), 0.5);
        assert_eq!(optimizer.state().hyperparameters["lr"], 0.5);
    }
}

#[test]
fn mismatched_grad_shape_is_error() {
    for &name in OPTIMIZER_NAMES {
        let first = param("ln_f.weight", &[1.0, 2.0], ParamKind::Norm);
        let second = param("h.0.mlp.c_fc.weight", &[1.0, 2.0, 3.0, 4.0], ParamKind::Weight);
        set_grad(&first, &[1.0, 1.0]);
        second.var.set_grad(Some(Tensor::ones(&[2, 2])));
        let mut optimizer = optimizer_by_name(name, 0.1).unwrap();

        let err = optimizer.step(&[first.clone(), second.clone()]).unwrap_err().to_string();

        assert!(err.contains("`h.0.mlp.c_fc.weight`"), "{name}: {err}");
        assert!(err.contains("has shape [2, 2]"), "{name}: {err}");
        assert!(err.contains("the parameter has shape [4]"), "{name}: {err}");
        assert_eq!(values(&first), vec![1.0, 2.0], "{name}: no parameter is updated when a check fails");
    }
}

#[test]
fn duplicate_names_are_error() {
    for &name in OPTIMIZER_NAMES {
        let first = param("fc.weight", &[1.0, 2.0], ParamKind::Weight);
        let second = param("fc.weight", &[3.0, 4.0], ParamKind::Weight);
        set_grad(&first, &[1.0, 1.0]);
        set_grad(&second, &[1.0, 1.0]);
        let mut optimizer = optimizer_by_name(name, 0.1).unwrap();

        let err = optimizer.step(&[first.clone(), second]).unwrap_err().to_string();

        assert!(err.contains("two different parameters are named `fc.weight`"), "{name}: {err}");
        assert_eq!(values(&first), vec![1.0, 2.0]);
    }
}

#[test]
fn same_parameter_twice_is_updated_once() {
    for &name in OPTIMIZER_NAMES {
        let p = param("w", &[1.0, 2.0], ParamKind::Weight);
        let reference = param("w", &[1.0, 2.0], ParamKind::Weight);
        set_grad(&p, &[0.5, -0.5]);
        set_grad(&reference, &[0.5, -0.5]);

        optimizer_by_name(name, 0.1).unwrap().step(&[p.clone(), p.clone()]).unwrap();
        optimizer_by_name(name, 0.1).unwrap().step(std::slice::from_ref(&reference)).unwrap();

        assert_eq!(values(&p), values(&reference), "{name}");
    }
}

#[test]
fn step_without_grads_changes_nothing() {
    for &name in OPTIMIZER_NAMES {
        let p: Parameter = param("w", &[1.0, 2.0], ParamKind::Weight);
        let mut optimizer = optimizer_by_name(name, 0.1).unwrap();
        optimizer.step(std::slice::from_ref(&p)).unwrap();
        assert_eq!(values(&p), vec![1.0, 2.0]);
        assert_eq!(optimizer.state().step, 1);
    }
}
