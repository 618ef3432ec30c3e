//! A bounded fuzz pass over the model-directory loaders, run with the other
//! tests: damaged copies of a real checkpoint (flipped bytes, truncations,
//! insertions) and arbitrary bytes must load or fail with an error, never
//! panic. The cargo-fuzz targets in `fuzz/` search the same inputs for longer.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::Module;
use aigc_train::checkpoint::{
    decode_safetensors, decode_training_state, load_checkpoint, load_gpt, write_model_config, CONFIG_FILE,
    TRAINING_STATE_FILE, TRAINING_STATE_VERSION, WEIGHTS_FILE,
};
use aigc_train::lm_dataset::TextDataset;
use aigc_train::{Model, StepOptions};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const FILES: [&str; 3] = [CONFIG_FILE, WEIGHTS_FILE, TRAINING_STATE_FILE];

fn config() -> GptConfig {
    GptConfig { vocab_size: 8, n_layer: 1, n_head: 1, n_embd: 4, block_size: 4, dropout: 0.0, bias: true }
}

/// The three files of a real checkpoint, written once per process.
fn pristine() -> &'static [Vec<u8>; 3] {
    static FILES_BYTES: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    FILES_BYTES.get_or_init(|| {
        let dir = scratch_dir("pristine");
        write_model_config(&dir, &config(), "bytes").unwrap();
        let mut model = Model::from(Gpt::with_seed(config(), 1).unwrap());
        model.compile("adamw", "sparse_categorical_crossentropy", &[]).unwrap();
        let ids: Vec<u32> = (0..200).map(|i| (i * 3 % 8) as u32).collect();
        let mut data = TextDataset::new(ids, 4, 2, 0.1).unwrap();
        data.eval_batches = 1;
        model.fit_batches(&mut data, StepOptions::new(2).verbose(false).checkpoint_dir(&dir)).unwrap();
        FILES.map(|name| std::fs::read(dir.join(name)).unwrap())
    })
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-fuzz-{name}-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A damage to one file: flip bytes, truncate, or insert bytes.
#[derive(Debug, Clone)]
enum Damage {
    Flip(Vec<(usize, u8)>),
    Truncate(usize),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec((any::<usize>(), 1..=255u8), 1..8).prop_map(Damage::Flip),
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
    ]
}

fn apply(bytes: &[u8], damage: &Damage) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match damage {
        Damage::Flip(flips) => {
            for &(at, mask) in flips {
                if !out.is_empty() {
                    let index = at % out.len();
                    out[index] ^= mask;
                }
            }
        }
        Damage::Truncate(at) => out.truncate(at % (bytes.len() + 1)),
        Damage::Insert(at, inserted) => {
            let index = at % (out.len() + 1);
            out.splice(index..index, inserted.iter().copied());
        }
    }
    out
}

/// Loads `dir` both ways; each may fail but must not panic.
fn load_both(dir: &Path) {
    if let Ok((gpt, _, _)) = load_gpt(dir) {
        let _ = load_checkpoint(dir, &gpt.parameters());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn damaged_checkpoint_never_panics(file in 0..3usize, damage in damage()) {
        let dir = scratch_dir("damaged");
        for (name, bytes) in FILES.iter().zip(pristine()) {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        std::fs::write(dir.join(FILES[file]), apply(&pristine()[file], &damage)).unwrap();
        load_both(&dir);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_safetensors(Path::new("fuzz.safetensors"), &bytes);
        let _ = decode_training_state(Path::new("fuzz.bin"), &bytes);
    }

    #[test]
    fn arbitrary_state_payload_never_panics(payload in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut file = b"AIGCSTAT".to_vec();
        file.extend_from_slice(&TRAINING_STATE_VERSION.to_le_bytes());
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&Sha256::digest(&payload));
        file.extend_from_slice(&payload);
        let _ = decode_training_state(Path::new("fuzz.bin"), &file);
    }

    #[test]
    fn damaged_state_payload_never_panics(damage in damage()) {
        // Re-checksummed, so the damage reaches the payload decoder.
        let payload = apply(&pristine()[2][52..], &damage);
        let mut file = b"AIGCSTAT".to_vec();
        file.extend_from_slice(&TRAINING_STATE_VERSION.to_le_bytes());
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&Sha256::digest(&payload));
        file.extend_from_slice(&payload);
        let _ = decode_training_state(Path::new("fuzz.bin"), &file);
    }

    #[test]
    fn arbitrary_config_never_panics(config in "\\PC{0,200}", numbers in prop::collection::vec(any::<i64>(), 5)) {
        let dir = scratch_dir("config");
        for (name, bytes) in FILES.iter().zip(pristine()) {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        std::fs::write(dir.join(CONFIG_FILE), config.as_bytes()).unwrap();
        load_both(&dir);

        // A well-formed config with arbitrary sizes.
        let json = format!(
            r#"{{"format_version":1,"architecture":"gpt","config":{{"vocab_size":{},"n_layer":{},"n_head":{},"n_embd":{},"block_size":{},"dropout":0.0,"bias":true}},"tokenizer":"bytes"}}"#,
            numbers[0], numbers[1], numbers[2], numbers[3], numbers[4]
        );
        std::fs::write(dir.join(CONFIG_FILE), json).unwrap();
        load_both(&dir);
    }
}
