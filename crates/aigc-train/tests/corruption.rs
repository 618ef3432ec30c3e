//! Loading a damaged model directory fails with one clear error, never a
//! panic: one test per kind of damage, each asserting the exact message.

use std::path::{Path, PathBuf};

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::Module;
use aigc_train::checkpoint::{
    load_checkpoint, load_gpt, load_tokenizer, read_config, save_gpt, save_tokenizer, write_model_config, CONFIG_FILE,
    TOKENIZER_FILE, TRAINING_STATE_FILE, WEIGHTS_FILE,
};
use aigc_train::lm_dataset::TextDataset;
use aigc_train::{Model, StepOptions};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-corrupt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config() -> GptConfig {
    GptConfig { vocab_size: 16, n_layer: 1, n_head: 2, n_embd: 16, block_size: 8, dropout: 0.0, bias: true }
}

/// A model directory with config.json, weights and a training state.
fn model_dir(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    write_model_config(&dir, &config(), "bytes").unwrap();
    let mut model = Model::from(Gpt::with_seed(config(), 1).unwrap());
    model.compile("adamw", "sparse_categorical_crossentropy", &[]).unwrap();
    let ids: Vec<u32> = (0..400).map(|i| (i * 5 % 16) as u32).collect();
    let mut data = TextDataset::new(ids, 8, 2, 0.1).unwrap();
    data.eval_batches = 1;
    model.fit_batches(&mut data, StepOptions::new(2).verbose(false).checkpoint_dir(&dir)).unwrap();
    dir
}

fn load_error(dir: &Path) -> String {
    match load_gpt(dir) {
        Ok(_) => panic!("loading {} succeeded", dir.display()),
        Err(error) => error.to_string(),
    }
}

fn rewrite(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

fn rewrite_config(dir: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(CONFIG_FILE);
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    change(&mut json);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
}

#[test]
fn truncated_weights() {
    let dir = model_dir("truncated-weights");
    let path = dir.join(WEIGHTS_FILE);
    rewrite(&path, |bytes| bytes.truncate(bytes.len() / 2));
    assert_eq!(
        load_error(&dir),
        format!("{}: not a valid safetensors file (MetadataIncompleteBuffer); the file may be truncated or corrupted", path.display())
    );
}

#[test]
fn corrupted_weights_header() {
    let dir = model_dir("corrupted-weights");
    let path = dir.join(WEIGHTS_FILE);
    rewrite(&path, |bytes| bytes[8..16].copy_from_slice(b"garbage!"));
    let message = load_error(&dir);
    let prefix = format!("{}: not a valid safetensors file (InvalidHeaderDeserialization", path.display());
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.ends_with("); the file may be truncated or corrupted"), "{message}");
}

#[test]
fn empty_weights() {
    let dir = model_dir("empty-weights");
    let path = dir.join(WEIGHTS_FILE);
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        load_error(&dir),
        format!("{}: not a valid safetensors file (HeaderTooSmall); the file may be truncated or corrupted", path.display())
    );
}

#[test]
fn state_with_bad_magic() {
    let dir = model_dir("bad-magic");
    let path = dir.join(TRAINING_STATE_FILE);
    rewrite(&path, |bytes| bytes[..8].copy_from_slice(b"NOTAIGC!"));
    assert_eq!(load_error(&dir), format!("{}: not an aigc training-state file (wrong magic number)", path.display()));
}

#[test]
fn truncated_state() {
    let dir = model_dir("truncated-state");
    let path = dir.join(TRAINING_STATE_FILE);
    let full = std::fs::read(&path).unwrap().len();
    rewrite(&path, |bytes| bytes.truncate(100));
    assert_eq!(
        load_error(&dir),
        format!("{}: truncated: the header promises {} payload bytes, the file has 48", path.display(), full - 52)
    );
}

#[test]
fn state_shorter_than_header() {
    let dir = model_dir("short-state");
    let path = dir.join(TRAINING_STATE_FILE);
    rewrite(&path, |bytes| bytes.truncate(30));
    assert_eq!(
        load_error(&dir),
        format!("{}: truncated: the file has 30 bytes, fewer than the 52-byte header", path.display())
    );
}

#[test]
fn state_checksum_mismatch() {
    let dir = model_dir("checksum");
    let path = dir.join(TRAINING_STATE_FILE);
    rewrite(&path, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
    });
    assert_eq!(
        load_error(&dir),
        format!("{}: checksum mismatch: the payload's SHA-256 differs from the header's, so the file is corrupted", path.display())
    );
}

#[test]
fn state_from_newer_version() {
    let dir = model_dir("newer-state");
    let path = dir.join(TRAINING_STATE_FILE);
    rewrite(&path, |bytes| bytes[8..12].copy_from_slice(&5u32.to_le_bytes()));
    assert_eq!(
        load_error(&dir),
        format!("{}: format version 5 is newer than this build supports (4); upgrade aigc", path.display())
    );
}

#[test]
fn state_from_older_version() {
    let dir = model_dir("older-state");
    let path = dir.join(TRAINING_STATE_FILE);
    rewrite(&path, |bytes| bytes[8..12].copy_from_slice(&1u32.to_le_bytes()));
    assert_eq!(
        load_error(&dir),
        format!(
            "{}: format version 1 is older than this build reads (2 to 4), so the run cannot resume from it; delete it to load the weights alone",
            path.display()
        )
    );
}

#[test]
fn state_for_other_weights() {
    let dir = model_dir("stale-state");
    // Replace the weights behind the state's back.
    let other = Gpt::with_seed(config(), 2).unwrap();
    aigc_train::checkpoint::save_weights(&dir.join(WEIGHTS_FILE), &other.parameters()).unwrap();

    // Plain loading still works and drops the state, which cannot resume these weights.
    let (_, _, state) = load_gpt(&dir).unwrap();
    assert!(state.is_none());

    let message = load_checkpoint(&dir, &other.parameters()).unwrap_err().to_string();
    let prefix = format!("{}: belongs to weights with SHA-256 ", dir.join(TRAINING_STATE_FILE).display());
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.ends_with("; the weights were replaced after the checkpoint, so the run cannot resume from it"),
        "{message}"
    );
}

#[test]
fn missing_state_cannot_resume() {
    let dir = model_dir("no-state");
    std::fs::remove_file(dir.join(TRAINING_STATE_FILE)).unwrap();
    let model = Gpt::with_seed(config(), 1).unwrap();
    assert_eq!(
        load_checkpoint(&dir, &model.parameters()).unwrap_err().to_string(),
        format!(
            "{}: not found: the directory holds no training state to resume from (it was saved without one)",
            dir.join(TRAINING_STATE_FILE).display()
        )
    );
}

#[test]
fn config_from_newer_version() {
    let dir = model_dir("newer-config");
    rewrite_config(&dir, |json| json["format_version"] = 2.into());
    assert_eq!(
        load_error(&dir),
        format!("{}: format version 2 is newer than this build supports (1); upgrade aigc", dir.join(CONFIG_FILE).display())
    );
}

#[test]
fn config_smaller_than_weights() {
    let dir = model_dir("smaller-config");
    rewrite_config(&dir, |json| json["config"]["vocab_size"] = 8.into());
    assert_eq!(
        load_error(&dir),
        format!(
            "{}: tensor \"wte.weight\" has shape [16, 16] but the model expects [8, 16]; the config and the weights disagree",
            dir.join(WEIGHTS_FILE).display()
        )
    );
}

#[test]
fn config_larger_than_weights() {
    let dir = model_dir("larger-config");
    rewrite_config(&dir, |json| json["config"]["n_embd"] = 1_000_000_000u64.into());
    let message = load_error(&dir);
    let prefix = format!("{}: holds ", dir.join(WEIGHTS_FILE).display());
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.ends_with("; the config and the weights disagree"), "{message}");
    assert!(message.contains("parameters, but config.json describes a model with at least 12000000024000000000"), "{message}");
}

#[test]
fn config_with_indivisible_heads() {
    let dir = model_dir("heads");
    rewrite_config(&dir, |json| json["config"]["n_head"] = 3.into());
    assert_eq!(
        load_error(&dir),
        format!(
            "{}: GptConfig: n_embd 16 is not divisible by n_head 3; choose n_embd as a multiple of n_head",
            dir.join(CONFIG_FILE).display()
        )
    );
}

#[test]
fn config_with_zero_size() {
    let dir = model_dir("zero");
    rewrite_config(&dir, |json| json["config"]["n_layer"] = 0.into());
    assert_eq!(
        load_error(&dir),
        format!("{}: GptConfig: n_layer is 0; it must be at least 1", dir.join(CONFIG_FILE).display())
    );
}

#[test]
fn config_with_negative_size() {
    let dir = model_dir("negative");
    rewrite_config(&dir, |json| json["config"]["block_size"] = (-4).into());
    assert_eq!(
        load_error(&dir),
        format!(
            "{}: invalid JSON: invalid value: integer `-4`, expected usize at line 1 column 59",
            dir.join(CONFIG_FILE).display()
        )
    );
}

#[test]
fn config_with_invalid_json() {
    let dir = model_dir("json");
    std::fs::write(dir.join(CONFIG_FILE), b"{\"format_version\": 1,").unwrap();
    assert_eq!(
        load_error(&dir),
        format!("{}: invalid JSON: EOF while parsing a value at line 1 column 21", dir.join(CONFIG_FILE).display())
    );
}

#[test]
fn config_with_unknown_architecture() {
    let dir = model_dir("architecture");
    rewrite_config(&dir, |json| json["architecture"] = "llama".into());
    assert_eq!(
        load_error(&dir),
        format!("{}: architecture \"llama\" is not supported; expected \"gpt\"", dir.join(CONFIG_FILE).display())
    );
}

#[test]
fn missing_config() {
    let dir = model_dir("no-config");
    std::fs::remove_file(dir.join(CONFIG_FILE)).unwrap();
    assert_eq!(
        load_error(&dir),
        format!(
            "{}: not found: a model directory needs config.json and model.safetensors (create one with `aigc train`)",
            dir.join(CONFIG_FILE).display()
        )
    );
}

#[test]
fn missing_weights() {
    let dir = model_dir("no-weights");
    std::fs::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
    assert_eq!(
        load_error(&dir),
        format!(
            "{}: not found: a model directory needs config.json and model.safetensors (create one with `aigc train`)",
            dir.join(WEIGHTS_FILE).display()
        )
    );
}

#[test]
fn missing_tokenizer() {
    let dir = model_dir("no-tokenizer");
    rewrite_config(&dir, |json| json["tokenizer"] = TOKENIZER_FILE.into());
    let config = read_config(&dir).unwrap();
    assert_eq!(
        load_tokenizer(&dir, &config).unwrap_err().to_string(),
        format!(
            "{}: not found: config.json names tokenizer \"tokenizer.json\", which must sit beside it",
            dir.join(TOKENIZER_FILE).display()
        )
    );
}

#[test]
fn tokenizer_with_other_vocab_size() {
    let dir = temp_dir("vocab");
    let model = Gpt::with_seed(config(), 1).unwrap();
    let tokenizer = aigc_tokenizer::Tokenizer::byte_level();
    save_tokenizer(&dir, &tokenizer).unwrap();
    save_gpt(&dir, &model, TOKENIZER_FILE, None).unwrap();
    let config = read_config(&dir).unwrap();
    assert_eq!(
        load_tokenizer(&dir, &config).unwrap_err().to_string(),
        format!(
            "{}: the tokenizer has {} tokens but the model's vocab_size is 16; use the tokenizer the model was trained with",
            dir.join(TOKENIZER_FILE).display(),
            tokenizer.vocab_size()
        )
    );
}

#[test]
fn invalid_tokenizer_file() {
    let dir = temp_dir("bad-tokenizer");
    let model = Gpt::with_seed(config(), 1).unwrap();
    save_gpt(&dir, &model, TOKENIZER_FILE, None).unwrap();
    std::fs::write(dir.join(TOKENIZER_FILE), b"{\"model\": 42}").unwrap();
    let config = read_config(&dir).unwrap();
    let message = load_tokenizer(&dir, &config).unwrap_err().to_string();
    assert!(message.starts_with(&format!("{}: ", dir.join(TOKENIZER_FILE).display())), "{message}");
}
