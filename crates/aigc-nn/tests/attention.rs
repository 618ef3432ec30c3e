mod common;

use aigc_autograd::Var;
use aigc_nn::{causal_mask, naive_attention, AttentionKernel, Dropout, Module, NaiveAttention};
use aigc_tensor::Tensor;
use common::{assert_close, assert_gradients, randn};

/// Attention by explicit loops in f64, as a reference for the values.
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool) -> Tensor {
    let (b, h, tq, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let tk = k.shape()[2];
    let (q, k, v) = (q.to_vec(), k.to_vec(), v.to_vec());
    let mut out = vec![0.0f32; b * h * tq * d];
    for bh in 0..b * h {
        for i in 0..tq {
            let visible: Vec<usize> = (0..tk).filter(|&j| !causal || j + tq <= i + tk).collect();
            let scores: Vec<f64> = visible
                .iter()
                .map(|&j| {
                    let dot: f64 = (0..d).map(|c| (q[(bh * tq + i) * d + c] * k[(bh * tk + j) * d + c]) as f64).sum();
                    dot / (d as f64).sqrt()
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            for c in 0..d {
                let value: f64 =
                    visible.iter().zip(&weights).map(|(&j, w)| w / total * v[(bh * tk + j) * d + c] as f64).sum();
                out[(bh * tq + i) * d + c] = value as f32;
            }
        }
    }
    Tensor::from_vec(out, &[b, h, tq, d]).unwrap()
}

fn attend(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool) -> Tensor {
    let vars = [q, k, v].map(|t| Var::new(t.clone()));
    NaiveAttention.attend(&vars[0], &vars[1], &vars[2], causal).unwrap().value()
}

#[test]
fn naive_attention_matches_loop_reference() {
    let q = randn(&[2, 3, 4, 5], 1.0, 1);
    let k = randn(&[2, 3, 6, 5], 1.0, 2);
    let v = randn(&[2, 3, 6, 5], 1.0, 3);
    for causal in [false, true] {
        let expected = reference(&q, &k, &v, causal);
        assert_close(&attend(&q, &k, &v, causal), &expected, 1e-5, &format!("causal = {causal}"));
    }
}

#[test]
fn naive_attention_gradcheck_causal_tq_below_tk() {
    let q = randn(&[1, 2, 3, 4], 1.0, 4);
    let k = randn(&[1, 2, 5, 4], 1.0, 5);
    let v = randn(&[1, 2, 5, 4], 1.0, 6);
    assert_gradients(|x| NaiveAttention.attend(&x[0], &x[1], &x[2], true), &[q, k, v]);
}

#[test]
fn naive_attention_gradcheck_non_causal_tq_below_tk() {
    let q = randn(&[2, 1, 2, 3], 1.0, 7);
    let k = randn(&[2, 1, 4, 3], 1.0, 8);
    let v = randn(&[2, 1, 4, 3], 1.0, 9);
    assert_gradients(|x| NaiveAttention.attend(&x[0], &x[1], &x[2], false), &[q, k, v]);
}

#[test]
fn causal_attention_first_position_returns_first_value() {
    let q = randn(&[2, 2, 4, 3], 1.0, 10);
    let k = randn(&[2, 2, 4, 3], 1.0, 11);
    let v = randn(&[2, 2, 4, 3], 1.0, 12);
    let y = attend(&q, &k, &v, true);
    let first_output = y.narrow(2, 0, 1).unwrap().contiguous();
    let first_value = v.narrow(2, 0, 1).unwrap().contiguous();
    assert_close(&first_output, &first_value, 1e-6, "position 0");
}

#[test]
fn causal_single_query_sees_all_keys() {
    let q = randn(&[1, 2, 1, 4], 1.0, 13);
    let k = randn(&[1, 2, 6, 4], 1.0, 14);
    let v = randn(&[1, 2, 6, 4], 1.0, 15);
    assert_close(&attend(&q, &k, &v, true), &attend(&q, &k, &v, false), 0.0, "Tq = 1");
}

#[test]
fn causal_mask_aligns_last_query_with_last_key() {
    // Tq = 2, Tk = 4: query 0 may attend to keys 0..=2, query 1 to all four
    assert_eq!(causal_mask(2, 4).to_vec(), vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(causal_mask(3, 3).to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn causal_query_without_keys_gives_zeros() {
    // Tq = 3 > Tk = 2: query 0 may attend to no key (j ≤ i − 1)
    let q = randn(&[1, 1, 3, 2], 1.0, 16);
    let k = randn(&[1, 1, 2, 2], 1.0, 17);
    let v = randn(&[1, 1, 2, 2], 1.0, 18);
    let y = attend(&q, &k, &v, true).to_vec();
    assert_eq!(&y[..2], &[0.0, 0.0]);
    assert!(y.iter().all(|x| x.is_finite()));
}

#[test]
fn attention_shape_errors_name_op_and_shapes() {
    let var = |shape: &[usize]| Var::new(Tensor::ones(shape));
    // q, k and v shapes, and two texts the message must contain
    type Case<'a> = (&'a [usize], &'a [usize], &'a [usize], &'a str, &'a str);
    let cases: [Case; 4] = [
        (&[2, 3, 4], &[2, 3, 4], &[2, 3, 4], "[2, 3, 4]", "4-D"),
        (&[1, 2, 4, 8], &[1, 2, 5, 6], &[1, 2, 5, 6], "[1, 2, 5, 6]", "[1, 2, 4, 8]"),
        (&[1, 2, 4, 8], &[1, 3, 5, 8], &[1, 3, 5, 8], "[1, 3, 5, 8]", "[1, 2, 4, 8]"),
        (&[1, 2, 4, 8], &[1, 2, 5, 8], &[1, 2, 6, 8], "[1, 2, 5, 8]", "[1, 2, 6, 8]"),
    ];
    for (q, k, v, first, second) in cases {
        let message = NaiveAttention.attend(&var(q), &var(k), &var(v), true).unwrap_err().to_string();
        assert!(message.starts_with("attention:"), "{message}");
        assert!(message.contains(first), "{message}");
        assert!(message.contains(second), "{message}");
    }
}

#[test]
fn attention_dropout_applies_only_when_active() {
    let q = Var::new(randn(&[1, 1, 4, 3], 1.0, 19));
    let k = Var::new(randn(&[1, 1, 4, 3], 1.0, 20));
    let v = Var::new(randn(&[1, 1, 4, 3], 1.0, 21));
    let plain = NaiveAttention.attend(&q, &k, &v, true).unwrap().value();

    let mut dropout = Dropout::new(0.5, 1).unwrap();
    dropout.set_training(false);
    let eval = NaiveAttention.attend_with_dropout(&q, &k, &v, true, &dropout).unwrap().value();
    assert_close(&eval, &plain, 0.0, "inactive dropout");

    dropout.set_training(true);
    let dropped = NaiveAttention.attend_with_dropout(&q, &k, &v, true, &dropout).unwrap().value();
    let same_draw = Dropout::new(0.5, 1).unwrap();
    let expected = naive_attention(&q, &k, &v, true, Some(&same_draw)).unwrap().value();
    assert_close(&dropped, &expected, 0.0, "active dropout");
    assert!(dropped.max_abs_diff(&plain) > 1e-3, "dropout should change the output");
}

#[test]
fn naive_kernel_name() {
    assert_eq!(NaiveAttention.name(), "naive");
}
