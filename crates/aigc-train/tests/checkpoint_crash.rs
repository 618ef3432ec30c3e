//! Crash safety of checkpoints: a crash injected at every stage of a
//! checkpoint write leaves a directory that holds one complete, loadable and
//! consistent checkpoint, and a write that fails (disk full, permission
//! denied) leaves the previous checkpoint intact and names the file and the
//! OS error.

use std::path::{Path, PathBuf};

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{Module, Parameter};
use aigc_tensor::Tensor;
use aigc_train::checkpoint::{
    load_checkpoint, load_gpt, read_training_state, recover_checkpoint, save_checkpoint, weights_digest,
    write_model_config, TrainingState, STAGED_WEIGHTS_FILE, TRAINING_STATE_FILE, WEIGHTS_FILE,
};
use aigc_train::fault::{self, Fault, Stage};
use aigc_train::lm_dataset::TextDataset;
use aigc_train::{Model, StepOptions};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config() -> GptConfig {
    GptConfig { vocab_size: 16, n_layer: 1, n_head: 2, n_embd: 16, block_size: 8, dropout: 0.0, bias: true }
}

/// A directory with config.json and a checkpoint at step 2 from a real run;
/// returns the trained model and the checkpoint's state.
fn directory_with_checkpoint(dir: &Path) -> (Model<Gpt>, TrainingState) {
    write_model_config(dir, &config(), "bytes").unwrap();
    let mut model = Model::from(Gpt::with_seed(config(), 1).unwrap());
    model.compile("adamw", "sparse_categorical_crossentropy", &[]).unwrap();
    let ids: Vec<u32> = (0..400).map(|i| (i * 7 % 16) as u32).collect();
    let mut data = TextDataset::new(ids, 8, 2, 0.1).unwrap();
    data.eval_batches = 1;
    model.fit_batches(&mut data, StepOptions::new(2).verbose(false).checkpoint_dir(dir)).unwrap();
    let state = read_training_state(dir).unwrap().unwrap();
    assert_eq!(state.step, 2);
    (model, state)
}

/// Changes every weight a little, as a training step would.
fn perturb(params: &[Parameter]) {
    for p in params {
        let values: Vec<f32> = p.var.value().to_vec().iter().map(|v| v + 0.5).collect();
        p.var.set_value(Tensor::from_vec(values, &p.var.shape()).unwrap()).unwrap();
    }
}

/// Checks that `dir` holds one consistent checkpoint and returns its step.
fn consistent_step(dir: &Path) -> u64 {
    let (gpt, _, state) = load_gpt(dir).expect("load_gpt after the crash");
    let state = state.expect("a training state that matches the weights");
    assert_eq!(weights_digest(&gpt.parameters()), state.weights_sha256);

    let fresh = Gpt::with_seed(config(), 9).unwrap();
    let resumable = load_checkpoint(dir, &fresh.parameters()).expect("load_checkpoint after the crash");
    assert_eq!(resumable, state);
    state.step
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') || name == STAGED_WEIGHTS_FILE)
        .collect();
    names.sort();
    names
}

/// Every stage a crash can hit, in write order, with the step the directory
/// must hold afterwards: 2 (the old checkpoint) until the new state is
/// renamed into place, 3 (the new one) from then on.
const CRASHES: &[(&str, Stage, u64)] = &[
    (STAGED_WEIGHTS_FILE, Stage::TempWritten, 2),
    (STAGED_WEIGHTS_FILE, Stage::TempSynced, 2),
    (STAGED_WEIGHTS_FILE, Stage::Renamed, 2),
    ("", Stage::WeightsStaged, 2),
    (TRAINING_STATE_FILE, Stage::TempWritten, 2),
    (TRAINING_STATE_FILE, Stage::TempSynced, 2),
    (TRAINING_STATE_FILE, Stage::Renamed, 3),
    ("", Stage::StateCommitted, 3),
    ("", Stage::WeightsRenamed, 3),
];

#[test]
fn crash_at_every_stage_leaves_one_checkpoint() {
    for (index, &(file, stage, expected)) in CRASHES.iter().enumerate() {
        let dir = temp_dir(&format!("stage-{index}"));
        let (model, state) = directory_with_checkpoint(&dir);
        let params = model.parameters();
        perturb(&params);

        fault::arm(file, stage, Fault::Crash);
        let error = save_checkpoint(&dir, &params, TrainingState { step: 3, ..state.clone() }).unwrap_err();
        assert!(!fault::is_armed(), "{file} {stage:?}: the fault did not fire");
        assert!(error.to_string().contains("simulated crash"), "{error}");

        assert_eq!(consistent_step(&dir), expected, "{file} {stage:?}: wrong checkpoint after the crash");

        // Recovery removes the debris and keeps the same checkpoint.
        recover_checkpoint(&dir).unwrap();
        assert_eq!(leftovers(&dir), Vec::<String>::new(), "{file} {stage:?}: files left after recovery");
        assert_eq!(consistent_step(&dir), expected, "{file} {stage:?}: recovery changed the checkpoint");

        // And the next checkpoint writes normally.
        perturb(&params);
        save_checkpoint(&dir, &params, TrainingState { step: 4, ..state }).unwrap();
        assert_eq!(consistent_step(&dir), 4);
        assert_eq!(leftovers(&dir), Vec::<String>::new());
    }
}

#[test]
fn disk_full_keeps_previous_checkpoint() {
    let dir = temp_dir("enospc");
    let (model, state) = directory_with_checkpoint(&dir);
    let before = std::fs::read(dir.join(WEIGHTS_FILE)).unwrap();
    perturb(&model.parameters());

    fault::arm(STAGED_WEIGHTS_FILE, Stage::TempWritten, Fault::OsError(28));
    let error = save_checkpoint(&dir, &model.parameters(), TrainingState { step: 3, ..state }).unwrap_err();

    let expected = format!("{}: No space left on device (os error 28)", dir.join(STAGED_WEIGHTS_FILE).display());
    assert_eq!(error.to_string(), expected);
    assert_eq!(consistent_step(&dir), 2);
    assert_eq!(std::fs::read(dir.join(WEIGHTS_FILE)).unwrap(), before, "the old weights are untouched");
    assert_eq!(leftovers(&dir), Vec::<String>::new(), "the failed write cleans up after itself");
}

#[test]
fn denied_state_write_keeps_previous_checkpoint() {
    let dir = temp_dir("eacces");
    let (model, state) = directory_with_checkpoint(&dir);
    perturb(&model.parameters());

    fault::arm(TRAINING_STATE_FILE, Stage::TempSynced, Fault::OsError(13));
    let error = save_checkpoint(&dir, &model.parameters(), TrainingState { step: 3, ..state }).unwrap_err();

    let expected = format!("{}: Permission denied (os error 13)", dir.join(TRAINING_STATE_FILE).display());
    assert_eq!(error.to_string(), expected);
    assert_eq!(consistent_step(&dir), 2);
    assert_eq!(leftovers(&dir), Vec::<String>::new(), "the staged weights are removed");
}

#[test]
fn failed_checkpoint_stops_training_with_path() {
    let dir = temp_dir("fit-enospc");
    let (mut model, _) = directory_with_checkpoint(&dir);
    let ids: Vec<u32> = (0..400).map(|i| (i * 7 % 16) as u32).collect();
    let mut data = TextDataset::new(ids, 8, 2, 0.1).unwrap();
    data.eval_batches = 1;

    fault::arm(TRAINING_STATE_FILE, Stage::TempWritten, Fault::OsError(28));
    let options = StepOptions::new(4).verbose(false).checkpoint_dir(&dir).checkpoint_interval(2);
    let error = model.fit_batches(&mut data, options).unwrap_err();

    let expected = format!("{}: No space left on device (os error 28)", dir.join(TRAINING_STATE_FILE).display());
    assert_eq!(error.to_string(), expected);
    assert_eq!(consistent_step(&dir), 2, "the earlier checkpoint survives");
}
