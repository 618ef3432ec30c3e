//! Model directories: `config.json`, `model.safetensors` and an optional
//! `training_state.bin`.
//!
//! * `config.json`: the format version, the architecture and its config.
//! * `model.safetensors`: every parameter by its stable name, in the
//!   Hugging Face safetensors format, so other tools can read the weights.
//! * `training_state.bin`: what resuming needs (step, optimizer moments,
//!   generator states, the weights' digest), behind a magic number, a format
//!   version and a SHA-256 checksum; see [`crate::training_state`].
//!
//! Every file goes to a temporary file in the same directory, is fsynced,
//! then renamed over the old one, and the directory is fsynced: a crash
//! leaves either the old file or the new one, never a torn one.
//!
//! ## Checkpoints: weights and state as one
//!
//! Two renames cannot happen at once, so [`save_checkpoint`] makes the state
//! file the commit point:
//!
//! 1. write the new weights to `model.safetensors.new` (atomically);
//! 2. write `training_state.bin`, which names the new weights by their
//!    SHA-256 (atomically): from here on the new checkpoint counts;
//! 3. rename `model.safetensors.new` to `model.safetensors`.
//!
//! A crash before step 2 leaves the old weights and the old state, which
//! match, plus a stray `.new` file. A crash between steps 2 and 3 leaves the
//! new state, whose weights are complete in `model.safetensors.new`.
//! [`load_gpt`] and [`load_checkpoint`] pick the weights file whose digest
//! the state names, and [`recover_checkpoint`] finishes or undoes the
//! interrupted write. A state therefore never refers to weights that are
//! not on disk.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, Parameter};
use aigc_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::fault::{self, Interruption, Stage};
pub use crate::safetensors_file::{decode_safetensors, encode_safetensors};
pub use crate::training_state::{
    decode_training_state, encode_training_state, tensors_digest, weights_digest, CallbackState, GeneratorState,
    NonfiniteState, PartialSums, TrainingState, TRAINING_STATE_VERSION,
};

/// The version of the model-directory format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// File name of the model config.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of new weights that [`save_checkpoint`] has written but not yet
/// renamed to [`WEIGHTS_FILE`].
pub const STAGED_WEIGHTS_FILE: &str = "model.safetensors.new";
/// File name of the training state.
pub const TRAINING_STATE_FILE: &str = "training_state.bin";

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

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
///
/// On failure the temporary file is removed and `path` is unchanged; the
/// error names `path` and the OS error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let file_name = path.file_name().ok_or_else(|| TrainError::invalid_file(path, "not a file path"))?;
    let temp = dir.join(format!(".{}{TEMP_MARKER}{}", file_name.to_string_lossy(), std::process::id()));
    match write_then_rename(dir, &temp, path, bytes) {
        Ok(()) => Ok(()),
        // A simulated crash leaves the temporary file behind, as a real one would.
        Err(Interruption::Crash) => Err(TrainError::io(path, Interruption::Crash.into_io())),
        Err(Interruption::Io(error)) => {
            let _ = std::fs::remove_file(&temp);
            Err(TrainError::io(path, error))
        }
    }
}

/// The directory that contains `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Part of the name of [`write_atomic`]'s temporary files, between the target's name and the process id.
const TEMP_MARKER: &str = ".tmp-";

fn write_then_rename(dir: &Path, temp: &Path, path: &Path, bytes: &[u8]) -> std::result::Result<(), Interruption> {
    let mut file = std::fs::File::create(temp)?;
    file.write_all(bytes)?;
    fault::hit(path, Stage::TempWritten)?;
    file.sync_all()?;
    drop(file);
    fault::hit(path, Stage::TempSynced)?;
    std::fs::rename(temp, path)?;
    fault::hit(path, Stage::Renamed)?;
    sync_dir(dir);
    Ok(())
}

/// Fsyncs a directory so that renames inside it are durable. Best effort:
/// some file systems do not support it, and the data is already written.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Saves `params` to a safetensors file, atomically.
pub fn save_weights(path: &Path, params: &[Parameter]) -> Result<()> {
    write_atomic(path, &encode_weights(params)?)
}

/// Loads weights from a safetensors file into `params`, matching by name.
///
/// Fails, changing nothing, when a parameter is missing from the file, a
/// shape differs (naming the tensor and both shapes), or the file has
/// tensors the model does not.
pub fn load_weights(path: &Path, params: &[Parameter]) -> Result<()> {
    let (tensors, _) = read_weights_file(path)?;
    assign_weights(path, tensors, params)
}

/// Saves a GPT into `dir` (created if missing): weights, config and, when
/// given, the training state (as a [`save_checkpoint`], whose digest field
/// is filled in). The weights are written before the config, so a reader
/// never finds a config without weights. Without a state, an existing
/// `training_state.bin` is removed, since it belongs to the old weights.
pub fn save_gpt(dir: &Path, model: &Gpt, tokenizer: &str, state: Option<&TrainingState>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let params = model.parameters();
    match state {
        Some(state) => save_checkpoint(dir, &params, state.clone())?,
        None => {
            save_weights(&dir.join(WEIGHTS_FILE), &params)?;
            for stale in [TRAINING_STATE_FILE, STAGED_WEIGHTS_FILE] {
                remove_if_present(&dir.join(stale))?;
            }
        }
    }
    write_model_config(dir, &model.config, tokenizer)
}

/// Writes `config.json` for a GPT with `config` and the tokenizer kind
/// `tokenizer` (`"bytes"` or [`TOKENIZER_FILE`]), atomically. A file with the
/// same contents is left alone.
pub fn write_model_config(dir: &Path, config: &GptConfig, tokenizer: &str) -> Result<()> {
    let path = dir.join(CONFIG_FILE);
    let file = ModelConfigFile {
        format_version: FORMAT_VERSION,
        architecture: "gpt".into(),
        config: config.clone(),
        tokenizer: tokenizer.into(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| TrainError::json(&path, e))?;
    if std::fs::read(&path).is_ok_and(|existing| existing == json) {
        return Ok(());
    }
    write_atomic(&path, &json)
}

/// Encodes parameters as the bytes of a safetensors file.
pub fn encode_weights(params: &[Parameter]) -> Result<Vec<u8>> {
    let tensors: Vec<(String, Tensor)> = params.iter().map(|p| (p.name.clone(), p.var.value())).collect();
    let mut metadata = BTreeMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    metadata.insert("aigc_format_version".to_string(), FORMAT_VERSION.to_string());
    encode_safetensors(&tensors, &metadata)
}

/// Saves the weights `params` and the training `state` into `dir` as one
/// checkpoint (see the module docs for the order of the writes), after
/// setting `state.weights_sha256` to the digest of `params`.
///
/// When a write fails, the previous checkpoint stays loadable and the error
/// names the file and the OS error.
pub fn save_checkpoint(dir: &Path, params: &[Parameter], mut state: TrainingState) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    state.weights_sha256 = weights_digest(params);
    let weights = encode_weights(params)?;
    let state_bytes = encode_training_state(&state)?;
    let staged = dir.join(STAGED_WEIGHTS_FILE);
    let weights_path = dir.join(WEIGHTS_FILE);

    // 1. Stage the new weights beside the old ones.
    write_atomic(&staged, &weights)?;
    crash_point(&staged, Stage::WeightsStaged)?;

    // 2. Commit: the new state names the staged weights.
    if let Err(error) = write_atomic(&dir.join(TRAINING_STATE_FILE), &state_bytes) {
        if !fault::is_crash(&error) {
            let _ = std::fs::remove_file(&staged);
        }
        return Err(error);
    }
    crash_point(&weights_path, Stage::StateCommitted)?;

    // 3. Move the staged weights into place. A failure here leaves a
    //    consistent checkpoint that loading completes.
    std::fs::rename(&staged, &weights_path).map_err(|e| TrainError::io(&weights_path, e))?;
    crash_point(&weights_path, Stage::WeightsRenamed)?;
    sync_dir(dir);
    Ok(())
}

/// Turns an armed fault at `stage` into the error it stands for.
fn crash_point(path: &Path, stage: Stage) -> Result<()> {
    fault::hit(path, stage).map_err(|interruption| TrainError::io(path, interruption.into_io()))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TrainError::io(path, e)),
        _ => Ok(()),
    }
}

/// Reads `training_state.bin` from `dir`, or returns `None` when there is none.
pub fn read_training_state(dir: &Path) -> Result<Option<TrainingState>> {
    let path = dir.join(TRAINING_STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(decode_training_state(&path, &bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrainError::io(path, e)),
    }
}

/// Decodes a safetensors file and returns its tensors with their digest.
fn read_weights_file(path: &Path) -> Result<(HashMap<String, Tensor>, String)> {
    let bytes = std::fs::read(path).map_err(|e| missing_or_io(path, e))?;
    let tensors = decode_safetensors(path, &bytes)?;
    let digest = tensors_digest(tensors.iter().map(|(name, tensor)| (name.as_str(), tensor)));
    Ok((tensors, digest))
}

fn missing_or_io(path: &Path, error: std::io::Error) -> TrainError {
    if error.kind() == std::io::ErrorKind::NotFound {
        TrainError::invalid_file(path, "not found: a model directory needs config.json and model.safetensors (create one with `aigc train`)")
    } else {
        TrainError::io(path, error)
    }
}

/// Returns the weights file of `dir` that `state` belongs to, with its
/// tensors: the staged file when a checkpoint stopped between its commit and
/// its last rename, else `model.safetensors`. The third value is the digest
/// of `model.safetensors` when it is not the state's, and `None` when it is.
fn weights_for_state(dir: &Path, state: &TrainingState) -> Result<(PathBuf, HashMap<String, Tensor>, Option<String>)> {
    let path = dir.join(WEIGHTS_FILE);
    let staged = dir.join(STAGED_WEIGHTS_FILE);
    if staged.is_file() {
        // A staged file that does not decode is the debris of a crashed
        // write before its commit; it cannot be the state's.
        if let Ok((tensors, digest)) = read_weights_file(&staged) {
            if digest == state.weights_sha256 {
                return Ok((staged, tensors, None));
            }
        }
    }
    let (tensors, digest) = read_weights_file(&path)?;
    let mismatch = (digest != state.weights_sha256).then_some(digest);
    Ok((path, tensors, mismatch))
}

/// Copies `tensors` into `params` by name, failing (and changing nothing)
/// when a parameter is missing, a shape differs or a tensor is left over.
fn assign_weights(path: &Path, mut tensors: HashMap<String, Tensor>, params: &[Parameter]) -> Result<()> {
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

/// Loads a checkpoint written by [`save_checkpoint`] into `params` and
/// returns its training state, after checking that the weights are the ones
/// the state was saved with. Reads only: it never changes the directory.
///
/// Fails when `training_state.bin` is missing or invalid, when no weights
/// file has the state's digest (naming both digests), or as [`load_weights`] does.
pub fn load_checkpoint(dir: &Path, params: &[Parameter]) -> Result<TrainingState> {
    let state_path = dir.join(TRAINING_STATE_FILE);
    let state = read_training_state(dir)?.ok_or_else(|| {
        TrainError::invalid_file(&state_path, "not found: the directory holds no training state to resume from (it was saved without one)")
    })?;
    let (path, tensors, mismatch) = weights_for_state(dir, &state)?;
    if let Some(digest) = mismatch {
        return Err(TrainError::invalid_file(
            &state_path,
            format!(
                "belongs to weights with SHA-256 {}, but {} has {digest}; the weights were replaced after the checkpoint, so the run cannot resume from it",
                state.weights_sha256,
                path.display()
            ),
        ));
    }
    assign_weights(&path, tensors, params)?;
    Ok(state)
}

/// Finishes or undoes a checkpoint write that a crash interrupted, and
/// removes temporary files that crashed writes left behind. Call it only
/// when no other process is writing to `dir`, such as before resuming.
///
/// Staged weights that the training state names are renamed into place;
/// other staged weights are deleted.
pub fn recover_checkpoint(dir: &Path) -> Result<()> {
    let staged = dir.join(STAGED_WEIGHTS_FILE);
    if staged.is_file() {
        let committed = match read_training_state(dir) {
            Ok(Some(state)) => read_weights_file(&staged).is_ok_and(|(_, digest)| digest == state.weights_sha256),
            _ => false,
        };
        if committed {
            let path = dir.join(WEIGHTS_FILE);
            std::fs::rename(&staged, &path).map_err(|e| TrainError::io(&path, e))?;
        } else {
            remove_if_present(&staged)?;
        }
        sync_dir(dir);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| TrainError::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TEMP_MARKER) {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
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

/// Loads a GPT and, if present, its training state from `dir`. Reads only.
///
/// The weights come from `model.safetensors`, or from the staged file that
/// the training state names when a checkpoint write was interrupted after
/// its commit. A training state whose weights digest matches neither file
/// (the weights were replaced after it was written) is returned as `None`,
/// since it cannot resume these weights. Fails when a file is missing,
/// truncated or corrupted, or when the config and the weights disagree
/// (naming the tensor and both shapes).
pub fn load_gpt(dir: &Path) -> Result<(Gpt, ModelConfigFile, Option<TrainingState>)> {
    let config = read_config(dir)?;
    let state = read_training_state(dir)?;
    let (path, tensors, state) = match state {
        Some(state) => match weights_for_state(dir, &state)? {
            (path, tensors, None) => (path, tensors, Some(state)),
            (path, tensors, Some(_)) => (path, tensors, None),
        },
        None => {
            let path = dir.join(WEIGHTS_FILE);
            let (tensors, _) = read_weights_file(&path)?;
            (path, tensors, None)
        }
    };
    check_model_size(&path, &config.config, &tensors)?;
    let model = Gpt::new(config.config.clone())?;
    assign_weights(&path, tensors, &model.parameters())?;
    Ok((model, config, state))
}

/// Fails, before the model is allocated, when the config asks for more
/// parameters than the weights file holds, so a corrupted or hostile
/// `config.json` cannot make loading allocate terabytes.
fn check_model_size(path: &Path, config: &GptConfig, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let stored: u128 = tensors.values().map(|t| t.numel() as u128).sum();
    let (vocab, embd, block, layers) =
        (config.vocab_size as u128, config.n_embd as u128, config.block_size as u128, config.n_layer as u128);
    // Token and position embeddings plus the four weight matrices of each
    // block (attention 4·C², MLP 8·C²); biases and norms come on top.
    // Saturating, since a hostile config can overflow even u128.
    let needed = (vocab + block).saturating_mul(embd).saturating_add(layers.saturating_mul(12 * embd).saturating_mul(embd));
    if needed > stored {
        return Err(TrainError::invalid_file(
            path,
            format!(
                "holds {stored} parameters, but config.json describes a model with at least {needed}; the config and the weights disagree"
            ),
        ));
    }
    Ok(())
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
