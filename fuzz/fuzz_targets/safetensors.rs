//! Decoding any bytes as model.safetensors, and loading them into a model,
//! fails cleanly or succeeds.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::Module;
use aigc_train::checkpoint::decode_safetensors;
use libfuzzer_sys::fuzz_target;

fn model() -> &'static Gpt {
    static MODEL: OnceLock<Gpt> = OnceLock::new();
    MODEL.get_or_init(|| {
        let config = GptConfig { vocab_size: 8, n_layer: 1, n_head: 1, n_embd: 4, block_size: 4, dropout: 0.0, bias: true };
        Gpt::new(config).expect("a valid config")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_safetensors(Path::new("fuzz.safetensors"), data);
    let path = std::env::temp_dir().join(format!("aigc-fuzz-weights-{}.safetensors", std::process::id()));
    std::fs::write(&path, data).expect("write the input");
    let _ = aigc_train::checkpoint::load_weights(&path, &model().parameters());
});
