//! Model directories: `config.json`, `model.safetensors` and an optional
//! `training_state.bin`, each written atomically.
//!
//! * `config.json`: the format version, the architecture and its config.
//! * `model.safetensors`: every parameter by its stable name, in the
//!   Hugging Face safetensors format, so other tools can read the weights.
//! * `training_state.bin`: what resuming needs (step, optimizer moments,
//!   RNG state), behind a magic number, a format version and a SHA-256
//!   checksum of the payload.
//!
//! Every file goes to a temporary file in the same directory, is fsynced,
//! then renamed over the old one, and the directory is fsynced: a crash
//! leaves either the old file or the new one, never a torn one.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, Parameter};
use aigc_optim::OptimizerState;
use aigc_tensor::{Rng, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrainError};

/// The version of the model-directory format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the model config.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the training state.
pub const TRAINING_STATE_FILE: &str = "training_state.bin";
/// First bytes of a training-state file.
const STATE_MAGIC: &[u8; 8] = b"AIGCSTAT";

/// The contents of `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfigFile {
    /// Format version of the directory.
    pub format_version: u32,
    /// The model family; `"gpt"`.
    pub architecture: String,
    /// The model's shapes.
    pub config: GptConfig,
    /// How text becomes ids: `"bytes"` (byte-level, ids 0..256) or
    /// `"tokenizer.json"` (a BPE tokenizer stored beside the weights).
    pub tokenizer: String,
}

/// What resuming a run needs besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Optimizer steps taken so far.
    pub step: u64,
    /// The optimizer's moments and step count.
    pub optimizer: OptimizerState,
    /// The data-sampling generator, to continue the same batch sequence.
    pub rng: Rng,
    /// The seed the run started from.
    pub seed: u64,
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| TrainError::invalid_file(path, "not a file path"))?;
    let temp = dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        // Make the rename itself durable.
        if let Ok(dir_handle) = std::fs::File::open(dir) {
            let _ = dir_handle.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        TrainError::io(path, e)
    })
}

fn tensor_bytes(t: &Tensor) -> Vec<u8> {
    t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Encodes named tensors as safetensors bytes (f32, little-endian).
pub fn encode_safetensors(tensors: &[(String, Tensor)], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.iter().map(|(name, t)| (name.clone(), t.shape().to_vec(), tensor_bytes(t))).collect();
    let mut views = Vec::with_capacity(buffers.len());
    for (name, shape, bytes) in &buffers {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| TrainError::invalid("save", format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    safetensors::serialize(views, &Some(metadata)).map_err(|e| TrainError::invalid("save", e.to_string()))
}

/// Decodes every tensor of a safetensors file into f32 tensors, by name.
pub fn decode_safetensors(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Tensor>> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| TrainError::invalid_file(path, format!("not a valid safetensors file ({e}); the file may be truncated or corrupted")))?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TrainError::invalid_file(path, format!("tensor {name} has dtype {:?}; expected F32", view.dtype())));
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.insert(name.clone(), Tensor::from_vec(values, view.shape())?);
    }
    Ok(out)
}

/// Saves `params` to a safetensors file, atomically.
pub fn save_weights(path: &Path, params: &[Parameter]) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = params.iter().map(|p| (p.name.clone(), p.var.value())).collect();
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    metadata.insert("aigc_format_version".to_string(), FORMAT_VERSION.to_string());
    write_atomic(path, &encode_safetensors(&tensors, metadata)?)
}

/// Loads weights from a safetensors file into `params`, matching by name.
///
/// Fails, changing nothing, when a parameter is missing from the file, a
/// shape differs (naming the tensor and both shapes), or the file has
/// tensors the model does not.
pub fn load_weights(path: &Path, params: &[Parameter]) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let mut tensors = decode_safetensors(path, &bytes)?;
    let mut updates = Vec::with_capacity(params.len());
    for p in params {
        let tensor = tensors
            .remove(&p.name)
            .ok_or_else(|| TrainError::invalid_file(path, format!("missing tensor {:?}, which the model needs", p.name)))?;
        let expected = p.var.shape();
        if tensor.shape() != expected.as_slice() {
            return Err(TrainError::invalid_file(
                path,
                format!("tensor {:?} has shape {:?} but the model expects {:?}; the config and the weights disagree", p.name, tensor.shape(), expected),
            ));
        }
        updates.push((p, tensor));
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(TrainError::invalid_file(path, format!("unexpected tensor {extra:?}: the model has no parameter by that name")));
    }
    for (p, tensor) in updates {
        p.var.set_value(tensor)?;
    }
    Ok(())
}

/// Encodes a training state: magic, version (u32 LE), payload length (u64 LE),
/// SHA-256 of the payload, payload (JSON).
pub fn encode_training_state(state: &TrainingState) -> Result<Vec<u8>> {
    let payload = serde_json::to_vec(state).map_err(|e| TrainError::invalid("save", format!("training state: {e}")))?;
    let mut out = Vec::with_capacity(payload.len() + 52);
    out.extend_from_slice(STATE_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes and verifies a training state written by [`encode_training_state`].
pub fn decode_training_state(path: &Path, bytes: &[u8]) -> Result<TrainingState> {
    let bad = |message: String| TrainError::invalid_file(path, message);
    if bytes.len() < 52 || &bytes[..8] != STATE_MAGIC {
        return Err(bad("not an aigc training-state file (wrong magic number or too short)".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version > FORMAT_VERSION {
        return Err(bad(format!("format version {version} is newer than this build supports ({FORMAT_VERSION}); upgrade aigc")));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
    let payload = &bytes[52..];
    if payload.len() != len {
        return Err(bad(format!("truncated: the header promises {len} payload bytes, the file has {}", payload.len())));
    }
    if Sha256::digest(payload).as_slice() != &bytes[20..52] {
        return Err(bad("checksum mismatch: the file is corrupted".into()));
    }
    serde_json::from_slice(payload).map_err(|e| bad(format!("invalid training state: {e}")))
}

/// Saves a GPT into `dir` (created if missing): config, weights and, when
/// given, the training state. The weights are written before the config, so
/// a reader never finds a config without weights.
pub fn save_gpt(dir: &Path, model: &Gpt, tokenizer: &str, state: Option<&TrainingState>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    save_weights(&dir.join(WEIGHTS_FILE), &model.parameters())?;
    if let Some(state) = state {
        write_atomic(&dir.join(TRAINING_STATE_FILE), &encode_training_state(state)?)?;
    }
    let config = ModelConfigFile {
        format_version: FORMAT_VERSION,
        architecture: "gpt".into(),
        config: model.config.clone(),
        tokenizer: tokenizer.into(),
    };
    let json = serde_json::to_vec_pretty(&config).map_err(|e| TrainError::json(dir.join(CONFIG_FILE), e))?;
    write_atomic(&dir.join(CONFIG_FILE), &json)
}

/// Reads and checks `config.json` of a model directory.
pub fn read_config(dir: &Path) -> Result<ModelConfigFile> {
    let path = dir.join(CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            TrainError::invalid_file(&path, "not found: a model directory needs config.json and model.safetensors (create one with `aigc train`)")
        } else {
            TrainError::io(&path, e)
        }
    })?;
    let config: ModelConfigFile = serde_json::from_slice(&bytes).map_err(|e| TrainError::json(&path, e))?;
    if config.format_version > FORMAT_VERSION {
        return Err(TrainError::invalid_file(
            &path,
            format!("format version {} is newer than this build supports ({FORMAT_VERSION}); upgrade aigc", config.format_version),
        ));
    }
    if config.architecture != "gpt" {
        return Err(TrainError::invalid_file(&path, format!("architecture {:?} is not supported; expected \"gpt\"", config.architecture)));
    }
    config.config.validate().map_err(|e| TrainError::invalid_file(&path, e.to_string()))?;
    Ok(config)
}

/// Loads a GPT and, if present, its training state from `dir`.
pub fn load_gpt(dir: &Path) -> Result<(Gpt, ModelConfigFile, Option<TrainingState>)> {
    let config = read_config(dir)?;
    let model = Gpt::new(config.config.clone())?;
    load_weights(&dir.join(WEIGHTS_FILE), &model.parameters())?;
    let state_path = dir.join(TRAINING_STATE_FILE);
    let state = match std::fs::read(&state_path) {
        Ok(bytes) => Some(decode_training_state(&state_path, &bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(TrainError::io(state_path, e)),
    };
    Ok((model, config, state))
}

/// The path of a file inside a model directory.
pub fn model_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// File name of a BPE tokenizer stored in a model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Saves `tokenizer` as `tokenizer.json` in `dir` (atomically).
pub fn save_tokenizer(dir: &Path, tokenizer: &aigc_tokenizer::Tokenizer) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let path = dir.join(TOKENIZER_FILE);
    tokenizer.save(&path).map_err(|e| TrainError::invalid_file(&path, e.to_string()))
}

/// Loads the tokenizer a model directory's config names: `None` for the
/// byte-level `"bytes"` kind, the `tokenizer.json` beside the weights
/// otherwise. Fails when the file is missing or its vocabulary size differs
/// from the model's `vocab_size`.
pub fn load_tokenizer(dir: &Path, config: &ModelConfigFile) -> Result<Option<aigc_tokenizer::Tokenizer>> {
    if config.tokenizer == "bytes" {
        return Ok(None);
    }
    let path = dir.join(&config.tokenizer);
    if !path.is_file() {
        return Err(TrainError::invalid_file(
            &path,
            format!("not found: config.json names tokenizer {:?}, which must sit beside it", config.tokenizer),
        ));
    }
    let tokenizer = aigc_tokenizer::Tokenizer::from_file(&path).map_err(|e| TrainError::invalid_file(&path, e.to_string()))?;
    check_vocab(&path, &tokenizer, &config.config)?;
    Ok(Some(tokenizer))
}

/// Checks that a tokenizer's vocabulary size equals the model's `vocab_size`.
pub fn check_vocab(path: &Path, tokenizer: &aigc_tokenizer::Tokenizer, config: &GptConfig) -> Result<()> {
    if tokenizer.vocab_size() != config.vocab_size {
        return Err(TrainError::invalid_file(
            path,
            format!(
                "the tokenizer has {} tokens but the model's vocab_size is {}; use the tokenizer the model was trained with",
                tokenizer.vocab_size(),
                config.vocab_size
            ),
        ));
    }
    Ok(())
}
