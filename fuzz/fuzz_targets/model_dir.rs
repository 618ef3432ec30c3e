//! Loading a model directory whose config.json, model.safetensors and
//! training_state.bin are arbitrary bytes fails cleanly or succeeds.
//!
//! Input layout: two u16 lengths, then config.json, model.safetensors and
//! training_state.bin (the rest).
#![no_main]

use aigc_train::checkpoint::{load_checkpoint, load_gpt, load_tokenizer, CONFIG_FILE, TRAINING_STATE_FILE, WEIGHTS_FILE};
use aigc_nn::Module;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let config_len = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let weights_len = usize::from(u16::from_le_bytes([data[2], data[3]]));
    let rest = &data[4..];
    let config_end = config_len.min(rest.len());
    let weights_end = (config_end + weights_len).min(rest.len());

    let dir = std::env::temp_dir().join(format!("aigc-fuzz-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the directory");
    std::fs::write(dir.join(CONFIG_FILE), &rest[..config_end]).expect("write config.json");
    std::fs::write(dir.join(WEIGHTS_FILE), &rest[config_end..weights_end]).expect("write the weights");
    std::fs::write(dir.join(TRAINING_STATE_FILE), &rest[weights_end..]).expect("write the state");

    if let Ok((gpt, config, _)) = load_gpt(&dir) {
        let _ = load_tokenizer(&dir, &config);
        let _ = load_checkpoint(&dir, &gpt.parameters());
    }
});
