//! The backward engine: accumulation, gradient mode, detach, errors, and
//! graphs too deep for recursion.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aigc_autograd::{is_grad_enabled, no_grad, NoGradGuard, Result, Var};
use aigc_tensor::Tensor;
use common::{assert_close, grad_of, random, tensor};

/// Chain length for the deep-graph tests: far deeper than a recursive walk
/// or a recursive drop could go on a 1 MiB stack.
const DEEP: usize = 100_000;

/// Runs `f` on a thread with a 1 MiB stack, so the deep-graph tests do not
/// depend on the test harness's stack size.
fn on_small_stack(f: impl FnOnce() -> Result<()> + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .expect("the test thread did not panic")
}

#[test]
fn value_used_twice_accumulates() -> Result<()> {
    // y = x + x·x: ∂y/∂x = 1 + 2x, from three uses of x.
    let x = Var::parameter(tensor(&[1.0, -2.0, 3.0], &[3]));
    x.add(&x.mul(&x)?)?.sum_all().backward()?;
    assert_close(&grad_of(&x), &tensor(&[3.0, -3.0, 7.0], &[3]));
    Ok(())
}

#[test]
fn backward_twice_accumulates() -> Result<()> {
    let x = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    let y = x.mul_scalar(3.0).sum_all();

    y.backward()?;
    assert_close(&grad_of(&x), &tensor(&[3.0, 3.0], &[2]));

    y.backward()?;
    assert_close(&grad_of(&x), &tensor(&[6.0, 6.0], &[2]));
    Ok(())
}

#[test]
fn zero_grad_clears() -> Result<()> {
    let x = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    let y = x.mul_scalar(3.0).sum_all();
    y.backward()?;

    x.zero_grad();
    assert!(x.grad().is_none());

    y.backward()?;
    assert_close(&grad_of(&x), &tensor(&[3.0, 3.0], &[2]));
    Ok(())
}

#[test]
fn accumulation_leaves_earlier_grad_unchanged() -> Result<()> {
    // A gradient read before the second backward is a snapshot: the
    // in-place accumulation copies shared storage first.
    let x = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    let y = x.sum_all();
    y.backward()?;
    let first = grad_of(&x);

    y.backward()?;

    assert_close(&first, &tensor(&[1.0, 1.0], &[2]));
    assert_close(&grad_of(&x), &tensor(&[2.0, 2.0], &[2]));
    Ok(())
}

#[test]
fn no_grad_records_nothing() {
    let w = Var::parameter(tensor(&[1.0, 2.0], &[2]));

    let y = no_grad(|| w.mul_scalar(2.0).sum_all());

    assert!(!y.requires_grad());
    assert!(y.is_leaf());
    assert!(is_grad_enabled());
    let message = y.backward().unwrap_err().to_string();
    assert!(message.starts_with("backward:"), "{message}");
    assert!(message.contains("no_grad"), "{message}");
    assert!(w.grad().is_none());
}

#[test]
fn no_grad_guard_nests_and_restores() {
    let w = Var::parameter(tensor(&[1.0], &[1]));
    {
        let _outer = NoGradGuard::new();
        {
            let _inner = NoGradGuard::new();
            assert!(!is_grad_enabled());
        }
        // Dropping the inner guard restores the outer mode, which is still off.
        assert!(!is_grad_enabled());
        assert!(!w.exp().requires_grad());
    }
    assert!(is_grad_enabled());
    assert!(w.exp().requires_grad());
}

#[test]
fn detach_cuts_graph() -> Result<()> {
    // y = stop(x)·x: only the second factor carries a gradient, so ∂y/∂x = x.
    let x = Var::parameter(tensor(&[2.0, -3.0], &[2]));
    let stopped = x.detach();
    assert!(!stopped.requires_grad());
    assert_close(&stopped.value(), &x.value());

    stopped.mul(&x)?.sum_all().backward()?;

    assert_close(&grad_of(&x), &tensor(&[2.0, -3.0], &[2]));
    assert!(stopped.grad().is_none());
    Ok(())
}

#[test]
fn constants_get_no_grad() -> Result<()> {
    let c = Var::new(tensor(&[1.0, 2.0], &[2]));
    let x = Var::parameter(tensor(&[3.0, 4.0], &[2]));
    assert!(!c.requires_grad());

    c.exp().add(&x)?.mul(&c)?.sum_all().backward()?;

    assert!(c.grad().is_none());
    assert_close(&grad_of(&x), &c.value());
    Ok(())
}

#[test]
fn operations_on_constants_are_constants() {
    let c = Var::new(tensor(&[1.0, 2.0], &[2]));
    let y = c.exp().sum_all();
    assert!(!y.requires_grad());
    assert!(y.op().is_none());
    assert!(y.backward().is_err());
}

#[test]
fn intermediate_results_store_no_grad() -> Result<()> {
    // Like PyTorch without retain_grad(), only leaves keep a gradient.
    let x = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    let h = x.exp();
    h.sum_all().backward()?;
    assert!(h.grad().is_none());
    assert!(x.grad().is_some());
    Ok(())
}

#[test]
fn backward_on_non_scalar_names_shape() {
    let x = Var::parameter(random(&[2, 3], 1));
    let message = x.exp().backward().unwrap_err().to_string();
    assert!(message.starts_with("backward:"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
}

#[test]
fn backward_on_one_element_tensor() -> Result<()> {
    // A (1, 1) output counts as a scalar.
    let x = Var::parameter(random(&[1, 1], 2));
    x.mul_scalar(4.0).backward()?;
    assert_close(&grad_of(&x), &tensor(&[4.0], &[1, 1]));
    Ok(())
}

#[test]
fn backward_on_parameter_itself() -> Result<()> {
    let x = Var::parameter(Tensor::scalar(5.0));
    x.backward()?;
    assert_close(&grad_of(&x), &Tensor::scalar(1.0));
    Ok(())
}

#[test]
fn backward_with_seeds_gradient() -> Result<()> {
    let x = Var::parameter(tensor(&[1.0, 2.0, 3.0], &[3]));
    x.mul_scalar(2.0).backward_with(tensor(&[1.0, 0.0, -1.0], &[3]))?;
    assert_close(&grad_of(&x), &tensor(&[2.0, 0.0, -2.0], &[3]));
    Ok(())
}

#[test]
fn backward_with_wrong_shape_names_both() {
    let x = Var::parameter(random(&[2, 3], 3));
    let message = x.exp().backward_with(Tensor::ones(&[3, 2])).unwrap_err().to_string();
    assert!(message.starts_with("backward_with:"), "{message}");
    assert!(message.contains("[2, 3]"), "{message}");
    assert!(message.contains("[3, 2]"), "{message}");
}

#[test]
fn diamond_graph_sums_paths() -> Result<()> {
    // x → h = eˣ → (2h, 3h) → y = 2h + 3h: ∂y/∂x = 5eˣ.
    let x = Var::parameter(tensor(&[0.0, 1.0], &[2]));
    let h = x.exp();
    h.mul_scalar(2.0).add(&h.mul_scalar(3.0))?.sum_all().backward()?;
    assert_close(&grad_of(&x), &x.value().exp().mul_scalar(5.0));
    Ok(())
}

#[test]
fn diamond_shared_node_runs_backward_once() -> Result<()> {
    // The shared node receives the sum of all paths' gradients and runs its
    // backward exactly once. A walk per path would run it three times.
    let calls = Arc::new(AtomicUsize::new(0));
    let x = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    let counter = Arc::clone(&calls);
    let h = Var::from_op("counted_identity", x.value(), &[&x], move |g| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(vec![Some(g.clone())])
    });

    let left = h.mul_scalar(2.0);
    let right = h.mul_scalar(3.0);
    left.add(&right)?.add(&h)?.sum_all().backward()?;

    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // ∂y/∂h = 2 + 3 + 1 per element.
    assert_close(&grad_of(&x), &tensor(&[6.0, 6.0], &[2]));
    Ok(())
}

#[test]
fn deep_chain_backward_does_not_overflow() -> Result<()> {
    on_small_stack(|| {
        let x = Var::parameter(tensor(&[1.0, 2.0], &[2]));
        let mut y = x.clone();
        for _ in 0..DEEP {
            y = y.add_scalar(1.0);
        }
        assert_close(&y.value(), &tensor(&[DEEP as f32 + 1.0, DEEP as f32 + 2.0], &[2]));

        y.sum_all().backward()?;

        assert_close(&grad_of(&x), &tensor(&[1.0, 1.0], &[2]));
        Ok(())
    })
}

#[test]
fn deep_graph_drops_without_overflow() -> Result<()> {
    on_small_stack(|| {
        let x = Var::parameter(tensor(&[1.0], &[1]));
        let mut y = x.clone();
        for _ in 0..DEEP {
            y = y.add_scalar(1.0);
        }
        // Dropping the end of the chain releases every node behind it.
        drop(y);
        assert!(x.grad().is_none());
        Ok(())
    })
}

#[test]
fn deep_graph_with_branches_drops_without_overflow() -> Result<()> {
    // Each step uses the previous node twice, so every node has two handles
    // on the same parent.
    on_small_stack(|| {
        let x = Var::parameter(tensor(&[0.5], &[1]));
        let mut y = x.clone();
        for _ in 0..DEEP {
            y = y.add(&y.mul_scalar(0.0))?;
        }
        y.sum_all().backward()?;
        assert_close(&grad_of(&x), &tensor(&[1.0], &[1]));
        drop(y);
        Ok(())
    })
}

#[test]
fn from_op_wrong_gradient_count_names_op() {
    let x = Var::parameter(tensor(&[1.0], &[1]));
    let y = Var::from_op("two_grads", x.value(), &[&x], |g| Ok(vec![Some(g.clone()), None]));
    let message = y.sum_all().backward().unwrap_err().to_string();
    assert!(message.starts_with("two_grads:"), "{message}");
    assert!(message.contains("2 gradients for 1 inputs"), "{message}");
}

#[test]
fn from_op_wrong_gradient_shape_names_op() {
    let x = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    let y = Var::from_op("bad_shape", x.value(), &[&x], |_| Ok(vec![Some(Tensor::ones(&[3]))]));
    let message = y.sum_all().backward().unwrap_err().to_string();
    assert!(message.starts_with("bad_shape:"), "{message}");
    assert!(message.contains("[2]"), "{message}");
    assert!(message.contains("[3]"), "{message}");
}

#[test]
fn from_op_without_grad_inputs_is_constant() {
    let c = Var::new(tensor(&[1.0], &[1]));
    let y = Var::from_op("identity", c.value(), &[&c], |g| Ok(vec![Some(g.clone())]));
    assert!(!y.requires_grad());
    assert!(y.op().is_none());
}

#[test]
fn op_names_and_leaves() -> Result<()> {
    let x = Var::parameter(random(&[2, 2], 4));
    assert!(x.is_leaf());
    assert_eq!(x.op(), None);
    assert_eq!(x.exp().op(), Some("exp"));
    assert_eq!(x.matmul(&x)?.op(), Some("matmul"));
    assert!(!x.exp().is_leaf());
    Ok(())
}

#[test]
fn set_value_keeps_shape() {
    let x = Var::parameter(random(&[2, 2], 5));
    assert!(x.set_value(Tensor::zeros(&[2, 2])).is_ok());
    assert_close(&x.value(), &Tensor::zeros(&[2, 2]));

    let message = x.set_value(Tensor::zeros(&[4])).unwrap_err().to_string();
    assert!(message.starts_with("set_value:"), "{message}");
    assert!(message.contains("[2, 2]"), "{message}");
    assert!(message.contains("[4]"), "{message}");
}

#[test]
fn update_value_after_graph_is_dropped() -> Result<()> {
    // The optimizer pattern: forward, backward, drop the graph, update in place.
    let w = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    w.mul(&w)?.sum_all().backward()?;
    let grad = grad_of(&w);
    w.update_value(|value| value.add_scaled_inplace(&grad, -0.5))?;
    assert_close(&w.value(), &tensor(&[0.0, 0.0], &[2]));
    Ok(())
}

#[test]
fn update_value_does_not_change_recorded_graph() -> Result<()> {
    // The graph captured the old value: an in-place update copies the
    // shared storage first, so backward still uses w = [1, 2].
    let w = Var::parameter(tensor(&[1.0, 2.0], &[2]));
    let y = w.mul(&w)?.sum_all();
    w.update_value(|value| value.map_inplace(|v| v * 10.0));
    y.backward()?;
    assert_close(&grad_of(&w), &tensor(&[2.0, 4.0], &[2]));
    Ok(())
}
