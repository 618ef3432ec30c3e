//! [`TrainingState`]: everything besides the weights that resuming a run
//! exactly needs, and its file format `training_state.bin`.
//!
//! The file is a 52-byte header followed by a payload:
//!
//! ```text
//! offset  size  field
//!      0     8  magic "AIGCSTAT"
//!      8     4  format version, u32 little-endian (TRAINING_STATE_VERSION)
//!     12     8  payload length in bytes, u64 little-endian
//!     20    32  SHA-256 of the payload
//!     52     …  payload: the TrainingState in bincode (fixed-width integers, little-endian)
//! ```
//!
//! The payload is binary rather than JSON because it holds the optimizer's
//! moments, two f32 per parameter, which JSON would triple in size, and
//! because bincode stores every f32 bit for bit.

use std::path::Path;

use aigc_nn::Parameter;
use aigc_optim::OptimizerState;
use aigc_tensor::{Rng, Tensor};
use bincode::Options;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrainError};

/// The version of `training_state.bin` this build writes.
///
/// Version 4 added the precision of matrix products. Version 3 files still
/// load, with [`TrainingState::precision`] `None`. Version 3 added the model's dropout generators, the callbacks' states and
/// the non-finite guard's state. Version 2 files still load: their
/// [`TrainingState::generators`] and [`TrainingState::callbacks`] are `None`,
/// so dropout masks and callbacks start afresh when such a run resumes.
/// Version 1 stored a JSON payload without the validation generator, the
/// thread count or the weights' digest; it cannot resume a run exactly and
/// is rejected.
pub const TRAINING_STATE_VERSION: u32 = 4;
/// The oldest version this build reads.
const OLDEST_READABLE_VERSION: u32 = 2;
/// First bytes of a training-state file.
const STATE_MAGIC: &[u8; 8] = b"AIGCSTAT";
/// Bytes before the payload: magic, version, length, SHA-256.
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

/// What resuming a run needs besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Optimizer steps taken so far; also the position in the learning-rate schedule.
    pub step: u64,
    /// The number of steps the run was asked for.
    pub total_steps: u64,
    /// The optimizer's moments, step count and hyperparameters.
    pub optimizer: OptimizerState,
    /// The generator that draws training batches, to continue the same batch sequence.
    pub rng: Rng,
    /// The generator that draws validation batches.
    pub validation_rng: Rng,
    /// The seed the run started from.
    pub seed: u64,
    /// Worker threads the run used. Parallel reductions split work by thread
    /// count, so a resume with another count gives slightly different sums.
    pub threads: usize,
    /// SHA-256 (hex) of the weights this state belongs to, as computed by
    /// [`weights_digest`]. Loading checks it, so a state is never paired
    /// with other weights.
    pub weights_sha256: String,
    /// Sums since the last evaluation and the last step log, so a run that
    /// resumes between two logs reports the same means as one that did not stop.
    pub partial: PartialSums,
    /// The model's random generators ([`aigc_nn::Module::generators`]: the
    /// dropout masks' streams) by name; `None` in a version-2 file.
    pub generators: Option<Vec<GeneratorState>>,
    /// The states of the callbacks that keep one ([`crate::Callback::state`]),
    /// in callback order; `None` in a version-2 file.
    pub callbacks: Option<Vec<CallbackState>>,
    /// The learning-rate factor and skip count of
    /// [`crate::StepOptions::skip_nonfinite`].
    pub nonfinite: NonfiniteState,
    /// The precision of the run's matrix products (`"f32"` or `"bf16"`,
    /// [`aigc_tensor::gemm::MatmulPrecision`]): bf16 rounds the operands, so
    /// a resume at another precision gives other losses. `None` in a file
    /// older than version 4.
    pub precision: Option<String>,
}

/// The saved state of one of the model's random generators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorState {
    /// The generator's dotted name, such as `h.0.mlp.dropout.rng`.
    pub name: String,
    /// Its state when the checkpoint was written.
    pub rng: Rng,
}

/// A callback's saved state, from [`crate::Callback::state`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackState {
    /// The kind of callback that saved it, such as `"EarlyStopping"`; a
    /// resumed run gives each state back to a callback of the same kind.
    pub kind: String,
    /// The state, encoded by the callback.
    pub data: Vec<u8>,
}

/// The non-finite guard's state, carried from step to step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NonfiniteState {
    /// The factor the scheduled learning rate is multiplied by: 1, halved at
    /// each skipped step.
    pub lr_scale: f32,
    /// Non-finite steps skipped in a row, up to the current step.
    pub consecutive_skips: u64,
}

impl Default for NonfiniteState {
    fn default() -> Self {
        NonfiniteState { lr_scale: 1.0, consecutive_skips: 0 }
    }
}

/// The payload of a version-2 file: [`TrainingState`] without the fields
/// that version 3 added.
#[derive(Deserialize)]
struct TrainingStateV2 {
    step: u64,
    total_steps: u64,
    optimizer: OptimizerState,
    rng: Rng,
    validation_rng: Rng,
    seed: u64,
    threads: usize,
    weights_sha256: String,
    partial: PartialSums,
}

impl From<TrainingStateV2> for TrainingState {
    fn from(old: TrainingStateV2) -> Self {
        TrainingState {
            step: old.step,
            total_steps: old.total_steps,
            optimizer: old.optimizer,
            rng: old.rng,
            validation_rng: old.validation_rng,
            seed: old.seed,
            threads: old.threads,
            weights_sha256: old.weights_sha256,
            partial: old.partial,
            generators: None,
            callbacks: None,
            nonfinite: NonfiniteState::default(),
            precision: None,
        }
    }
}

/// The payload of a version-3 file: [`TrainingState`] without the precision.
#[derive(Deserialize)]
struct TrainingStateV3 {
    step: u64,
    total_steps: u64,
    optimizer: OptimizerState,
    rng: Rng,
    validation_rng: Rng,
    seed: u64,
    threads: usize,
    weights_sha256: String,
    partial: PartialSums,
    generators: Option<Vec<GeneratorState>>,
    callbacks: Option<Vec<CallbackState>>,
    nonfinite: NonfiniteState,
}

impl From<TrainingStateV3> for TrainingState {
    fn from(old: TrainingStateV3) -> Self {
        TrainingState {
            step: old.step,
            total_steps: old.total_steps,
            optimizer: old.optimizer,
            rng: old.rng,
            validation_rng: old.validation_rng,
            seed: old.seed,
            threads: old.threads,
            weights_sha256: old.weights_sha256,
            partial: old.partial,
            generators: old.generators,
            callbacks: old.callbacks,
            nonfinite: old.nonfinite,
            precision: None,
        }
    }
}

/// The training loss and metric sums accumulated since the last evaluation
/// and since the last step log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialSums {
    /// Rows seen since the last evaluation.
    pub eval_rows: f64,
    /// Sum of loss × rows since the last evaluation.
    pub eval_loss_sum: f64,
    /// Sum of each metric × rows since the last evaluation, in compile order.
    pub eval_metric_sums: Vec<f64>,
    /// Sum of the step losses since the last step log.
    pub log_loss_sum: f64,
    /// Steps since the last step log.
    pub log_steps: usize,
    /// Tokens (or samples) since the last step log.
    pub log_tokens: usize,
}

/// Returns the SHA-256 (hex) of named tensors: for each tensor in order of
/// name, the name's length and bytes, the rank and each dimension (u64
/// little-endian), then the f32 values (little-endian).
///
/// The digest depends only on names, shapes and values, so the weights in
/// memory and the same weights read back from `model.safetensors` agree.
pub fn tensors_digest<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> String {
    let mut sorted: Vec<(&str, &Tensor)> = tensors.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Sha256::new();
    for (name, tensor) in sorted {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((tensor.ndim() as u64).to_le_bytes());
        for &dim in tensor.shape() {
            hasher.update((dim as u64).to_le_bytes());
        }
        let bytes: Vec<u8> = tensor.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect();
        hasher.update(&bytes);
    }
    hex(&hasher.finalize())
}

/// Returns [`tensors_digest`] of the parameters' current values.
pub fn weights_digest(params: &[Parameter]) -> String {
    let values: Vec<(String, Tensor)> = params.iter().map(|p| (p.name.clone(), p.var.value())).collect();
    tensors_digest(values.iter().map(|(name, tensor)| (name.as_str(), tensor)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bincode settings of the payload. The size limit makes a length
/// prefix larger than the payload fail instead of allocating.
fn payload_options(limit: usize) -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian().with_limit(limit as u64)
}

/// Encodes a training state as the bytes of `training_state.bin`.
pub fn encode_training_state(state: &TrainingState) -> Result<Vec<u8>> {
    let payload = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .serialize(state)
        .map_err(|e| TrainError::invalid("save", format!("could not encode the training state: {e}")))?;
    Ok(frame_payload(TRAINING_STATE_VERSION, &payload))
}

/// Puts the header of format `version` in front of `payload`.
fn frame_payload(version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN);
    out.extend_from_slice(STATE_MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

/// Encodes `state` in the version-2 format, which lacks the generators, the
/// callbacks and the non-finite guard. Only for testing that old files still load.
#[doc(hidden)]
pub fn encode_training_state_v2(state: &TrainingState) -> Result<Vec<u8>> {
    let old = (
        state.step,
        state.total_steps,
        &state.optimizer,
        &state.rng,
        &state.validation_rng,
        state.seed,
        state.threads,
        &state.weights_sha256,
        &state.partial,
    );
    let payload = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .serialize(&old)
        .map_err(|e| TrainError::invalid("save", format!("could not encode the training state: {e}")))?;
    Ok(frame_payload(2, &payload))
}

/// Encodes `state` in the version-3 format, which lacks the precision. Only
/// for testing that old files still load.
#[doc(hidden)]
pub fn encode_training_state_v3(state: &TrainingState) -> Result<Vec<u8>> {
    let old = (
        (state.step, state.total_steps, &state.optimizer, &state.rng, &state.validation_rng, state.seed),
        (state.threads, &state.weights_sha256, &state.partial, &state.generators, &state.callbacks, &state.nonfinite),
    );
    let payload = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .serialize(&old)
        .map_err(|e| TrainError::invalid("save", format!("could not encode the training state: {e}")))?;
    Ok(frame_payload(3, &payload))
}

/// Decodes and verifies the bytes of a `training_state.bin` read from `path`.
///
/// Fails, naming `path`, on a wrong magic number, a file shorter than its
/// header, an unsupported format version, a payload shorter or longer than
/// the header says, a checksum mismatch, or a payload that does not decode.
pub fn decode_training_state(path: &Path, bytes: &[u8]) -> Result<TrainingState> {
    let invalid = |message: String| TrainError::invalid_file(path, message);
    if bytes.len() < 8 || &bytes[..8] != STATE_MAGIC {
        return Err(invalid("not an aigc training-state file (wrong magic number)".into()));
    }
    if bytes.len() < HEADER_LEN {
        return Err(invalid(format!(
            "truncated: the file has {} bytes, fewer than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version > TRAINING_STATE_VERSION {
        return Err(invalid(format!(
            "format version {version} is newer than this build supports ({TRAINING_STATE_VERSION}); upgrade aigc"
        )));
    }
    if version < OLDEST_READABLE_VERSION {
        return Err(invalid(format!(
            "format version {version} is older than this build reads ({OLDEST_READABLE_VERSION} to {TRAINING_STATE_VERSION}), so the run cannot resume from it; delete it to load the weights alone"
        )));
    }
    let mut length = [0u8; 8];
    length.copy_from_slice(&bytes[12..20]);
    let length = u64::from_le_bytes(length);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != length {
        let problem = if (payload.len() as u64) < length { "truncated" } else { "corrupted" };
        return Err(invalid(format!(
            "{problem}: the header promises {length} payload bytes, the file has {}",
            payload.len()
        )));
    }
    if Sha256::digest(payload).as_slice() != &bytes[20..HEADER_LEN] {
        return Err(invalid("checksum mismatch: the payload's SHA-256 differs from the header's, so the file is corrupted".into()));
    }
    let undecodable = |e: bincode::Error| invalid(format!("the payload does not decode as a training state: {e}"));
    if version == 2 {
        let old: TrainingStateV2 = payload_options(payload.len()).deserialize(payload).map_err(undecodable)?;
        return Ok(old.into());
    }
    if version == 3 {
        let old: TrainingStateV3 = payload_options(payload.len()).deserialize(payload).map_err(undecodable)?;
        return Ok(old.into());
    }
    payload_options(payload.len()).deserialize(payload).map_err(undecodable)
}
