//! FusedAttention against NaiveAttention: values and gradients, causal and
//! not, Tq below, equal to and above Tk, sizes that do not fill a key block.

mod common;

use aigc_autograd::{Result, Var};
use aigc_nn::{
    fused_attention_forward, AttentionDims, AttentionKernel, Dropout, FusedAttention, HeadLayout, KeysTransposed,
    NaiveAttention,
};
use aigc_tensor::{Rng, Tensor};
use common::{assert_close, assert_gradients, randn};

/// (B, H, Tq, Tk, D) cases: odd sizes, one key, more than one key block
/// (16 keys), Tq < Tk as in a cached step, and Tq > Tk, where a causal
/// query can see no key.
const CASES: [(usize, usize, usize, usize, usize); 8] = [
    (1, 1, 1, 1, 1),
    (2, 3, 5, 5, 4),
    (1, 2, 19, 19, 5),
    (2, 1, 3, 37, 8),
    (1, 2, 1, 40, 7),
    (3, 2, 33, 33, 16),
    (1, 1, 6, 4, 3),
    (2, 2, 17, 17, 32),
];

fn operands(case: (usize, usize, usize, usize, usize), std: f32, seed: u64) -> [Tensor; 3] {
    let (b, h, tq, tk, d) = case;
    [randn(&[b, h, tq, d], std, seed), randn(&[b, h, tk, d], std, seed + 1), randn(&[b, h, tk, d], 1.0, seed + 2)]
}

/// Returns the output and the gradients of q, k and v for the weighted sum
/// `Σ w ⊙ attention(q, k, v)`.
fn value_and_grads(kernel: &dyn AttentionKernel, inputs: &[Tensor; 3], causal: bool, weights: &Tensor) -> [Tensor; 4] {
    let vars = inputs.clone().map(Var::parameter);
    let y = kernel.attend(&vars[0], &vars[1], &vars[2], causal).unwrap();
    y.backward_with(weights.clone()).unwrap();
    let grad = |v: &Var| v.grad().unwrap_or_else(|| Tensor::zeros(&v.shape()));
    [y.value(), grad(&vars[0]), grad(&vars[1]), grad(&vars[2])]
}

fn assert_matches_naive(case: (usize, usize, usize, usize, usize), std: f32, causal: bool, tolerance: f32) {
    let inputs = operands(case, std, 10);
    let (b, h, tq, _, d) = case;
    let weights = randn(&[b, h, tq, d], 1.0, 99);
    let fused = value_and_grads(&FusedAttention, &inputs, causal, &weights);
    let naive = value_and_grads(&NaiveAttention, &inputs, causal, &weights);
    for (name, (f, n)) in ["y", "dq", "dk", "dv"].iter().zip(fused.iter().zip(&naive)) {
        assert_close(f, n, tolerance, &format!("{name}, case {case:?}, causal {causal}"));
    }
}

#[test]
fn fused_matches_naive_values_and_gradients() {
    for case in CASES {
        for causal in [true, false] {
            assert_matches_naive(case, 1.0, causal, 1e-5);
        }
    }
}

#[test]
fn fused_matches_naive_with_large_scores() {
    // Scores near ±100 test the running maximum of the online softmax.
    for case in [(1, 2, 19, 19, 5), (2, 1, 3, 37, 8)] {
        for causal in [true, false] {
            assert_matches_naive(case, 6.0, causal, 1e-4);
        }
    }
}

#[test]
fn fused_causal_query_without_keys_gets_zero() {
    // Tq 6 > Tk 4: the first two queries see no key.
    let [q, k, v] = operands((1, 1, 6, 4, 3), 1.0, 20);
    let y = FusedAttention.attend(&Var::new(q), &Var::new(k), &Var::new(v), true).unwrap().value();
    assert_eq!(y.narrow(2, 0, 2).unwrap().to_vec(), vec![0.0; 6]);
}

#[test]
fn fused_gradcheck_causal_tq_below_tk() {
    let inputs = operands((1, 2, 3, 5, 4), 1.0, 30);
    assert_gradients(|x| FusedAttention.attend(&x[0], &x[1], &x[2], true), &inputs);
}

#[test]
fn fused_gradcheck_causal_across_key_blocks() {
    let inputs = operands((1, 1, 18, 18, 3), 1.0, 31);
    assert_gradients(|x| FusedAttention.attend(&x[0], &x[1], &x[2], true), &inputs);
}

#[test]
fn fused_gradcheck_non_causal() {
    let inputs = operands((2, 1, 2, 4, 3), 1.0, 32);
    assert_gradients(|x| FusedAttention.attend(&x[0], &x[1], &x[2], false), &inputs);
}

/// Packs q, k, v `(B, H, T, D)` into the `(B, T, 3C)` layout of `c_attn`.
fn pack(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
    let (b, h, t, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let merge = |x: &Tensor| x.permute(&[0, 2, 1, 3]).unwrap().reshape(&[b, t, h * d]).unwrap();
    Tensor::concat(&[&merge(q), &merge(k), &merge(v)], 2).unwrap()
}

fn attend_packed(kernel: &dyn AttentionKernel, qkv: &Tensor, heads: usize, causal: bool) -> (Tensor, Tensor) {
    let var = Var::parameter(qkv.clone());
    let inactive = Dropout::new(0.0, 0).unwrap();
    let y = kernel.attend_packed(&var, heads, causal, &inactive).unwrap();
    let weights = randn(&y.shape(), 1.0, 77);
    y.backward_with(weights).unwrap();
    (y.value(), var.grad().unwrap())
}

#[test]
fn fused_packed_matches_naive_packed() {
    for (b, h, t, d) in [(2, 3, 5, 4), (1, 2, 19, 5), (2, 2, 33, 8)] {
        let [q, k, v] = operands((b, h, t, t, d), 1.0, 40);
        let qkv = pack(&q, &k, &v);
        for causal in [true, false] {
            let (y_fused, dqkv_fused) = attend_packed(&FusedAttention, &qkv, h, causal);
            let (y_naive, dqkv_naive) = attend_packed(&NaiveAttention, &qkv, h, causal);
            let label = format!("(B, H, T, D) = {:?}, causal {causal}", (b, h, t, d));
            assert_close(&y_fused, &y_naive, 1e-5, &format!("y, {label}"));
            assert_close(&dqkv_fused, &dqkv_naive, 1e-5, &format!("dqkv, {label}"));
        }
    }
}

#[test]
fn fused_packed_equals_fused_by_heads_exactly() {
    // The packed path reads the same numbers in the same order as attend().
    let [q, k, v] = operands((2, 2, 19, 19, 5), 1.0, 50);
    let qkv = pack(&q, &k, &v);
    let (y_packed, _) = attend_packed(&FusedAttention, &qkv, 2, true);
    let y_heads = FusedAttention.attend(&Var::new(q), &Var::new(k), &Var::new(v), true).unwrap().value();
    let merged = y_heads.permute(&[0, 2, 1, 3]).unwrap().reshape(&[2, 19, 10]).unwrap();
    assert_eq!(y_packed.to_vec(), merged.to_vec());
}

#[test]
fn fused_packed_rejects_bad_shape() {
    let inactive = Dropout::new(0.0, 0).unwrap();
    let qkv = Var::new(Tensor::ones(&[2, 3, 10]));
    let message = FusedAttention.attend_packed(&qkv, 2, true, &inactive).unwrap_err().to_string();
    assert!(message.contains("attention"), "{message}");
    assert!(message.contains("[2, 3, 10]"), "{message}");
}

#[test]
fn fused_rejects_mismatched_operands() {
    let q = Var::new(Tensor::ones(&[1, 2, 3, 4]));
    let k = Var::new(Tensor::ones(&[1, 2, 3, 5]));
    let message = FusedAttention.attend(&q, &k, &k, true).unwrap_err().to_string();
    assert!(message.contains("[1, 2, 3, 4]"), "{message}");
    assert!(message.contains("[1, 2, 3, 5]"), "{message}");
}

#[test]
fn fused_handles_empty_sizes() {
    for (tq, tk, d) in [(0, 3, 4), (3, 0, 4), (3, 3, 0)] {
        let [q, k, v] = operands((2, 1, tq, tk, d), 1.0, 60);
        let vars = [q, k, v].map(Var::parameter);
        let y = FusedAttention.attend(&vars[0], &vars[1], &vars[2], true).unwrap();
        assert_eq!(y.shape(), vec![2, 1, tq, d]);
        assert!(y.value().to_vec().iter().all(|&x| x == 0.0), "(Tq, Tk, D) = {:?}", (tq, tk, d));
        y.sum_all().backward().unwrap();
    }
}

#[test]
fn fused_results_do_not_depend_on_thread_count() {
    let inputs = operands((4, 2, 40, 40, 16), 1.0, 70);
    let weights = randn(&[4, 2, 40, 16], 1.0, 71);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| value_and_grads(&FusedAttention, &inputs, true, &weights))
    };
    let (one, two) = (run(1), run(2));
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.to_vec(), b.to_vec());
    }
}

#[test]
fn forward_on_slices_matches_attend() -> Result<()> {
    // D 16 reads the values in place, D 5 copies them to pad the rows.
    for head_size in [5, 16] {
        forward_on_slices_case(head_size)?;
    }
    Ok(())
}

fn forward_on_slices_case(head_size: usize) -> Result<()> {
    // One sequence whose keys and values sit in buffers for 48 positions, as
    // in a KV cache: values (H, 48, D), keys transposed (H, D, 48). The
    // unused positions hold NaN, which must never reach the output.
    let (heads, queries, keys, capacity) = (2, 3, 21, 48);
    let mut rng = Rng::seed(80);
    let q = Tensor::randn(&[1, heads, queries, head_size], 0.0, 1.0, &mut rng);
    let k = Tensor::randn(&[1, heads, keys, head_size], 0.0, 1.0, &mut rng);
    let v = Tensor::randn(&[1, heads, keys, head_size], 0.0, 1.0, &mut rng);
    let expected = FusedAttention.attend(&Var::new(q.clone()), &Var::new(k.clone()), &Var::new(v.clone()), true)?.value();

    let (k_data, v_data) = (k.to_vec(), v.to_vec());
    let mut keys_t = vec![f32::NAN; heads * head_size * capacity];
    let mut values = vec![f32::NAN; heads * capacity * head_size];
    for h in 0..heads {
        for t in 0..keys {
            for d in 0..head_size {
                let source = (h * keys + t) * head_size + d;
                keys_t[(h * head_size + d) * capacity + t] = k_data[source];
                values[(h * capacity + t) * head_size + d] = v_data[source];
            }
        }
    }
    let keys_layout = KeysTransposed { head_stride: head_size * capacity, row_stride: capacity };
    let values_layout = HeadLayout::heads_first(capacity, head_size);
    let q_layout = HeadLayout::heads_first(queries, head_size);
    let mut y = vec![0.0f32; heads * queries * head_size];
    let dims = AttentionDims { batch: 1, heads, queries, keys, head_size };
    let q_operand = (q.as_slice().unwrap(), q_layout);
    fused_attention_forward(q_operand, (&keys_t, keys_layout), (&values, values_layout), (&mut y, q_layout), dims, true)?;
    assert_eq!(y, expected.to_vec());

    let short_rows = KeysTransposed { head_stride: head_size * 16, row_stride: 16 };
    let error = fused_attention_forward(q_operand, (&keys_t, short_rows), (&values, values_layout), (&mut y, q_layout), dims, true)
        .unwrap_err()
        .to_string();
    assert!(error.contains("row_stride 16 is below 32"), "{error}");
    let too_short = 10 * head_size / 5;
    let error = fused_attention_forward(q_operand, (&keys_t, keys_layout), (&values[..too_short], values_layout), (&mut y, q_layout), dims, true)
        .unwrap_err()
        .to_string();
    assert!(error.contains(&format!("v has {too_short} elements")), "{error}");
    Ok(())
}
