//! The KV cache decodes with the same rounding as the full forward pass, on
//! any number of threads, and with the weights its sequence started with.

mod common;

use aigc_gpt::{Gpt, GptConfig, Quantization};
use aigc_tensor::{Rng, Tensor};
use common::{config, redraw};

fn full_logits(model: &Gpt, ids: &[u32]) -> Tensor {
    let input = Tensor::from_vec(ids.iter().map(|&id| id as f32).collect(), &[1, ids.len()]).unwrap();
    let logits = aigc_autograd::no_grad(|| model.logits(&input)).unwrap().value();
    logits.reshape(&[ids.len(), model.config.vocab_size]).unwrap()
}

fn ids(len: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::seed(seed);
    (0..len).map(|_| rng.below(61) as u32).collect()
}

#[test]
fn cached_logits_equal_full_pass_bit_for_bit() {
    if aigc_tensor::gemm::kernel().name() != "avx2" {
        return; // the bit-for-bit claim is about the AVX2 GEMM kernel (AIGC_GEMM may pick another)
    }
    let model = Gpt::new(config()).unwrap();
    redraw(&model, 0.5, 1);
    let ids = ids(40, 2);
    let full = full_logits(&model, &ids);
    let mut cache = model.new_kv_cache();
    let prefill = model.forward_cached(&ids[..17], &mut cache).unwrap();
    assert_eq!(prefill.to_vec(), full.narrow(0, 0, 17).unwrap().to_vec(), "prefill of 17 tokens");
    for t in 17..40 {
        let step = model.forward_cached(&ids[t..t + 1], &mut cache).unwrap();
        assert_eq!(step.to_vec(), full.narrow(0, t, 1).unwrap().to_vec(), "position {t}");
    }
}

#[test]
fn cleared_cache_uses_new_weights() {
    let model = Gpt::new(config()).unwrap();
    redraw(&model, 0.5, 3);
    let ids = ids(12, 4);
    let mut cache = model.new_kv_cache();
    model.forward_cached(&ids, &mut cache).unwrap();

    redraw(&model, 0.5, 5);
    cache.clear();
    let logits = model.forward_cached(&ids, &mut cache).unwrap();
    let difference = logits.max_abs_diff(&full_logits(&model, &ids));
    assert!(difference <= 1e-5, "max |cached - full| = {difference:e} after new weights");
}

/// Returns the logits of a 9-token prefill and 21 one-token steps, decoded
/// in `quantization`'s format on a rayon pool of `threads` threads. Decoding
/// splits across at most as many threads as there are cores.
fn decoded_on(threads: usize, quantization: Quantization) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        // n_embd 128, so that the blocks' linear layers are large enough to be split.
        let model = Gpt::new(GptConfig { n_embd: 128, ..config() }).unwrap();
        redraw(&model, 0.5, 7);
        let ids = ids(30, 8);
        let mut cache = model.new_kv_cache_with(quantization);
        let mut logits = model.forward_cached(&ids[..9], &mut cache).unwrap().to_vec();
        for t in 9..30 {
            logits.extend(model.forward_cached(&ids[t..t + 1], &mut cache).unwrap().to_vec());
        }
        logits
    })
}

#[test]
fn decoding_same_on_one_and_three_threads() {
    for quantization in [Quantization::F32, Quantization::Q8] {
        assert_eq!(decoded_on(1, quantization), decoded_on(3, quantization), "{quantization:?}");
    }
}
