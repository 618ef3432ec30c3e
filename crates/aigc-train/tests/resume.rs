//! Exact resume: a run stopped at a step boundary and resumed from its
//! checkpoint computes the same losses, bit for bit, as one that never
//! stopped. Also the stop flag, the NaN guard and resume's input checks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::Parameter;
use aigc_optim::WarmupCosine;
use aigc_tensor::{Rng, Tensor};
use aigc_nn::Module;
use aigc_train::checkpoint::{
    self, decode_training_state, load_checkpoint, read_training_state, weights_digest, TrainingState,
};
use aigc_train::lm_dataset::TextDataset;
use aigc_train::training_state::{encode_training_state_v2, encode_training_state_v3};
use aigc_train::{
    BatchSource, Callback, EarlyStopping, History, Model, Optimizer, StepLog, StepOptions, TrainError, TrainingControl,
};

const STEPS: usize = 100;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config() -> GptConfig {
    GptConfig { vocab_size: 16, n_layer: 1, n_head: 2, n_embd: 16, block_size: 8, dropout: 0.0, bias: true }
}

/// A compiled tiny GPT whose initial weights come from `seed`.
fn model(seed: u64) -> Model<Gpt> {
    model_with_dropout(seed, 0.0)
}

/// A compiled tiny GPT with dropout probability `dropout`.
fn model_with_dropout(seed: u64, dropout: f32) -> Model<Gpt> {
    let mut model = Model::from(Gpt::with_seed(config().with_dropout(dropout), seed).unwrap());
    model.compile(Optimizer::adamw(3e-3, 0.1), "sparse_categorical_crossentropy", &["sparse_categorical_accuracy"]).unwrap();
    model
}

/// A token stream with structure to learn: a repeating pattern with noise.
fn dataset() -> TextDataset {
    let mut rng = Rng::seed(3);
    let ids: Vec<u32> = (0..2000).map(|i| if rng.uniform() < 0.2 { rng.below(16) as u32 } else { (i % 7) as u32 }).collect();
    let mut data = TextDataset::new(ids, 8, 4, 0.1).unwrap();
    data.eval_batches = 2;
    data
}

/// Wraps a source and sets `flag` once `stop_after` batches were drawn, as a Ctrl-C would.
struct StopAfter {
    inner: TextDataset,
    drawn: usize,
    stop_after: usize,
    flag: Arc<AtomicBool>,
}

impl BatchSource for StopAfter {
    fn next_batch(&mut self, rng: &mut Rng) -> aigc_train::Result<(Tensor, Tensor)> {
        self.drawn += 1;
        if self.drawn == self.stop_after {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.inner.next_batch(rng)
    }

    fn validation_batches(&mut self, rng: &mut Rng) -> aigc_train::Result<Vec<(Tensor, Tensor)>> {
        self.inner.validation_batches(rng)
    }

    fn tokens_per_batch(&self) -> usize {
        self.inner.tokens_per_batch()
    }
}

/// The bits of every step log: step, loss, learning rate, validation loss, gradient norm.
type LogBits = (usize, u32, u32, Option<u32>, u32);

/// Records every step log.
struct Recorder(Arc<Mutex<Vec<LogBits>>>);

impl Callback for Recorder {
    fn on_step_end(&mut self, log: &StepLog, _: &[Parameter], _: &mut TrainingControl) -> aigc_train::Result<()> {
        let entry = (log.step, log.loss.to_bits(), log.lr.to_bits(), log.val_loss.map(f32::to_bits), log.grad_norm.to_bits());
        self.0.lock().unwrap().push(entry);
        Ok(())
    }
}

/// The options every run of the comparison uses: logs every 7 steps and
/// evaluations every 20, so a stop at step 50 falls between both.
fn options(logs: &Arc<Mutex<Vec<LogBits>>>) -> StepOptions {
    StepOptions::new(STEPS)
        .eval_interval(20)
        .log_interval(7)
        .schedule(WarmupCosine::new(3e-3, 3e-4, 10, STEPS).unwrap())
        .clip_grad_norm(1.0)
        .seed(11)
        .verbose(false)
        .callback(Recorder(Arc::clone(logs)))
}

fn series_bits(history: &History, name: &str) -> Vec<u32> {
    history.get(name).unwrap_or(&[]).iter().map(|v| v.to_bits()).collect()
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let dir = temp_dir("exact");

    // The reference: 100 steps without a stop.
    let full_logs = Arc::default();
    let mut full = model(7);
    let full_history = full.fit_batches(&mut dataset(), options(&full_logs)).unwrap();

    // The same run, stopped by the flag after step 50, with checkpoints every 30 steps.
    let flag = Arc::new(AtomicBool::new(false));
    let mut source = StopAfter { inner: dataset(), drawn: 0, stop_after: 50, flag: Arc::clone(&flag) };
    let part_logs = Arc::default();
    let mut first = model(7);
    let first_options = options(&part_logs).checkpoint_dir(&dir).checkpoint_interval(30).stop_flag(Arc::clone(&flag));
    let first_history = first.fit_batches(&mut source, first_options).unwrap();
    assert!(first_history.stopped_early());
    let state = read_training_state(&dir).unwrap().expect("a checkpoint at the stop");
    assert_eq!(state.step, 50);
    assert_eq!(state.threads, rayon::current_num_threads());

    // Resume into a model initialised differently: every weight must come from the checkpoint.
    let mut second = model(99);
    let state = load_checkpoint(&dir, &second.parameters()).unwrap();
    assert_eq!(weights_digest(&second.parameters()), weights_digest(&first.parameters()));
    let second_history = second.fit_batches(&mut dataset(), options(&part_logs).resume_from(state).checkpoint_dir(&dir)).unwrap();

    assert_eq!(*part_logs.lock().unwrap(), *full_logs.lock().unwrap(), "step logs differ");
    for name in ["loss", "val_loss", "sparse_categorical_accuracy", "val_sparse_categorical_accuracy"] {
        let mut resumed = series_bits(&first_history, name);
        resumed.extend(series_bits(&second_history, name));
        assert_eq!(resumed, series_bits(&full_history, name), "history series {name} differs");
    }
    let mut steps = first_history.steps().to_vec();
    steps.extend(second_history.steps());
    assert_eq!(steps, full_history.steps());
    assert_eq!(weights_digest(&second.parameters()), weights_digest(&full.parameters()), "final weights differ");
    assert_eq!(read_training_state(&dir).unwrap().unwrap().step, STEPS as u64, "the last step is checkpointed");
}

/// What a run stopped at step 50 and resumed to step 100 produced, beside the uninterrupted run.
struct Comparison {
    full_logs: Vec<LogBits>,
    resumed_logs: Vec<LogBits>,
    full_history: History,
    resumed_histories: (History, History),
    full_digest: String,
    resumed_digest: String,
}

/// Runs 100 steps straight, and the same run stopped after step 50 and
/// resumed, both built by `build` and with `callbacks` added to their options.
/// `edit_state` may change the state between the two halves.
fn stop_and_resume(
    name: &str,
    build: impl Fn(u64) -> Model<Gpt>,
    callbacks: impl Fn(StepOptions) -> StepOptions,
    edit_state: impl FnOnce(TrainingState) -> TrainingState,
) -> Comparison {
    let dir = temp_dir(name);
    let full_logs = Arc::default();
    let mut full = build(7);
    let full_history = full.fit_batches(&mut dataset(), callbacks(options(&full_logs))).unwrap();

    let flag = Arc::new(AtomicBool::new(false));
    let mut source = StopAfter { inner: dataset(), drawn: 0, stop_after: 50, flag: Arc::clone(&flag) };
    let part_logs = Arc::default();
    let mut first = build(7);
    let first_options = callbacks(options(&part_logs)).checkpoint_dir(&dir).stop_flag(flag);
    let first_history = first.fit_batches(&mut source, first_options).unwrap();
    assert_eq!(read_training_state(&dir).unwrap().unwrap().step, 50);

    let mut second = build(99);
    let state = edit_state(load_checkpoint(&dir, &second.parameters()).unwrap());
    let second_history = second.fit_batches(&mut dataset(), callbacks(options(&part_logs)).resume_from(state)).unwrap();

    let resumed_logs = part_logs.lock().unwrap().clone();
    let full_logs = full_logs.lock().unwrap().clone();
    Comparison {
        full_logs,
        resumed_logs,
        full_history,
        resumed_histories: (first_history, second_history),
        full_digest: weights_digest(&full.parameters()),
        resumed_digest: weights_digest(&second.parameters()),
    }
}

#[test]
fn dropout_run_resumes_exactly() {
    let build = |seed| model_with_dropout(seed, 0.1);
    let run = stop_and_resume("dropout", build, |options| options, |state| state);
    assert_eq!(run.resumed_logs, run.full_logs, "step logs differ");
    let (first, second) = &run.resumed_histories;
    let mut resumed = series_bits(first, "val_loss");
    resumed.extend(series_bits(second, "val_loss"));
    assert_eq!(resumed, series_bits(&run.full_history, "val_loss"));
    assert_eq!(run.resumed_digest, run.full_digest, "final weights differ");
}

#[test]
fn dropout_state_saved_in_checkpoint() {
    let dir = temp_dir("dropout-state");
    let mut trained = model_with_dropout(7, 0.1);
    trained.fit_batches(&mut dataset(), StepOptions::new(3).verbose(false).checkpoint_dir(&dir)).unwrap();
    let state = read_training_state(&dir).unwrap().unwrap();
    let saved = state.generators.expect("version 3 saves the generators");
    let names: Vec<&str> = saved.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["drop.rng", "h.0.attn.attn_dropout.rng", "h.0.attn.resid_dropout.rng", "h.0.mlp.dropout.rng"]);
    let live: Vec<_> = trained.net().generators().iter().map(|g| g.state()).collect();
    assert_eq!(saved.iter().map(|g| g.rng.clone()).collect::<Vec<_>>(), live, "the states saved are the ones after step 3");
}

#[test]
fn version_two_state_resumes_without_dropout_stream() {
    // A version-2 file has no generators: it loads, and the run resumes
    // with the masks of freshly built layers, so dropout runs then differ.
    let to_v2 = |state: TrainingState| {
        let bytes = encode_training_state_v2(&state).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2);
        let old = decode_training_state(std::path::Path::new("v2.bin"), &bytes).unwrap();
        assert_eq!((old.generators.as_ref(), old.callbacks.as_ref()), (None, None));
        let restored = TrainingState {
            generators: state.generators.clone(),
            callbacks: state.callbacks.clone(),
            precision: state.precision.clone(),
            ..old
        };
        assert_eq!(restored, state);
        TrainingState { generators: None, callbacks: None, ..state }
    };
    let run = stop_and_resume("v2", |seed| model_with_dropout(seed, 0.1), |options| options, to_v2);
    let before_stop = |logs: &[LogBits]| logs.iter().filter(|log| log.0 <= 50).cloned().collect::<Vec<_>>();
    assert_eq!(before_stop(&run.resumed_logs), before_stop(&run.full_logs), "the logs before the stop are the same");
    assert_ne!(run.resumed_logs, run.full_logs, "other masks after the resume");

    // Without dropout a version-2 state still resumes exactly.
    let run = stop_and_resume("v2-exact", model, |options| options, to_v2);
    assert_eq!(run.resumed_logs, run.full_logs);
    assert_eq!(run.resumed_digest, run.full_digest);
}

#[test]
fn precision_saved_and_version_three_loads_without_it() {
    let dir = temp_dir("precision");
    let mut trained = model_with_dropout(7, 0.1);
    trained.fit_batches(&mut dataset(), StepOptions::new(3).verbose(false).checkpoint_dir(&dir)).unwrap();
    let state = read_training_state(&dir).unwrap().unwrap();
    assert_eq!(state.precision.as_deref(), Some("f32"));

    let bytes = encode_training_state_v3(&state).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 3);
    let old = decode_training_state(std::path::Path::new("v3.bin"), &bytes).unwrap();
    assert_eq!(old, TrainingState { precision: None, ..state });
}

/// EarlyStopping on val_loss that stops at the fourth evaluation (step 80):
/// min_delta is so large that only the first evaluation counts as an improvement.
fn early_stopping(options: StepOptions) -> StepOptions {
    options.callback(EarlyStopping::new("val_loss", 3).min_delta(100.0).restore_best_weights(true))
}

#[test]
fn early_stopping_resumes_with_its_counters() {
    let run = stop_and_resume("early-stopping", model, early_stopping, |state| state);
    assert!(run.full_history.stopped_early());
    assert_eq!(run.full_history.steps(), [20, 40, 60, 80]);
    let (first, second) = &run.resumed_histories;
    assert_eq!(first.steps(), [20, 40]);
    assert_eq!(second.steps(), [60, 80], "the resumed run stops where the uninterrupted one did");
    assert!(second.stopped_early());
    assert_eq!(run.resumed_logs, run.full_logs);
    // restore_best_weights put back the step-20 weights, which the checkpoint carried.
    assert_eq!(run.resumed_digest, run.full_digest);
}

#[test]
fn early_stopping_state_is_required_on_resume() {
    // The checkpoint holds EarlyStopping's state; a run resumed without it is rejected.
    let dir = temp_dir("early-stopping-missing");
    let mut first = model(7);
    first.fit_batches(&mut dataset(), early_stopping(StepOptions::new(10).eval_interval(5).verbose(false)).checkpoint_dir(&dir)).unwrap();
    let mut second = model(7);
    let state = load_checkpoint(&dir, &second.parameters()).unwrap();
    let error = second.fit_batches(&mut dataset(), StepOptions::new(20).verbose(false).resume_from(state)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "fit_batches (resume): the checkpoint holds the states of the callbacks [EarlyStopping] but this run's callbacks keep [none]; pass the same callbacks, in the same order, as the run that saved it"
    );

    // One that monitors another value is rejected too.
    let mut third = model(7);
    let state = load_checkpoint(&dir, &third.parameters()).unwrap();
    let options = StepOptions::new(20).verbose(false).resume_from(state).callback(EarlyStopping::new("loss", 3));
    let error = third.fit_batches(&mut dataset(), options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "EarlyStopping (resume): the checkpoint's EarlyStopping monitored \"val_loss\", this one monitors \"loss\"; monitor the same value to resume"
    );
}

#[test]
fn checkpoints_follow_the_interval() {
    let dir = temp_dir("interval");
    let logs = Arc::default();
    let mut model = model(7);
    let seen = Arc::new(Mutex::new(Vec::new()));

    /// Reads the saved step at each log.
    struct Watch(PathBuf, Arc<Mutex<Vec<(usize, Option<u64>)>>>);
    impl Callback for Watch {
        fn on_step_end(&mut self, log: &StepLog, _: &[Parameter], _: &mut TrainingControl) -> aigc_train::Result<()> {
            let saved = read_training_state(&self.0)?.map(|state| state.step);
            self.1.lock().unwrap().push((log.step, saved));
            Ok(())
        }
    }

    let options = options(&logs).steps(25).log_interval(5).checkpoint_dir(&dir).checkpoint_interval(10).callback(Watch(dir.clone(), Arc::clone(&seen)));
    model.fit_batches(&mut dataset(), options).unwrap();
    // Callbacks run before the step's checkpoint, so step 10's log still sees nothing.
    let expected = vec![(5, None), (10, None), (15, Some(10)), (20, Some(10)), (25, Some(20))];
    assert_eq!(*seen.lock().unwrap(), expected);
    assert_eq!(read_training_state(&dir).unwrap().unwrap().step, 25);
}

#[test]
fn stop_flag_set_before_training_stops_after_one_step() {
    let dir = temp_dir("flag");
    let flag = Arc::new(AtomicBool::new(true));
    let history = model(7)
        .fit_batches(&mut dataset(), StepOptions::new(10).verbose(false).checkpoint_dir(&dir).stop_flag(flag))
        .unwrap();
    assert!(history.stopped_early());
    assert_eq!(read_training_state(&dir).unwrap().unwrap().step, 1);
}

/// Sets one weight to NaN at the step log of `at`, as a numerical blow-up would.
struct PoisonAt(usize);

impl Callback for PoisonAt {
    fn on_step_end(&mut self, log: &StepLog, params: &[Parameter], _: &mut TrainingControl) -> aigc_train::Result<()> {
        if log.step == self.0 {
            let param = &params[0];
            let mut values = param.var.value().to_vec();
            values[0] = f32::NAN;
            param.var.set_value(Tensor::from_vec(values, &param.var.shape())?)?;
        }
        Ok(())
    }
}

#[test]
fn nan_stops_training_and_names_last_checkpoint() {
    let dir = temp_dir("nan");
    let options = StepOptions::new(50)
        .log_interval(1)
        .seed(11)
        .verbose(false)
        .checkpoint_dir(&dir)
        .checkpoint_interval(10)
        .callback(PoisonAt(34));
    let error = model(7).fit_batches(&mut dataset(), options).unwrap_err();

    let message = error.to_string();
    assert!(matches!(error, TrainError::Diverged { step: 35, .. }), "{error:?}");
    let expected = format!(
        "fit_batches: training diverged at step 35: loss NaN, gradient norm NaN; the last good checkpoint is step 30 in {}; resume from it with a lower learning rate or with clip_grad_norm",
        dir.display()
    );
    assert_eq!(message, expected);

    // The checkpoint it names is intact and finite.
    let restored = model(1);
    let state = load_checkpoint(&dir, &restored.parameters()).unwrap();
    assert_eq!(state.step, 30);
    assert!(restored.parameters().iter().all(|p| p.var.value().to_vec().iter().all(|v| v.is_finite())));
}

#[test]
fn nan_weights_are_never_checkpointed() {
    let dir = temp_dir("nan-save");
    // The weight turns NaN at step 10's log, before step 10's checkpoint.
    let options = StepOptions::new(20).log_interval(1).verbose(false).checkpoint_dir(&dir).checkpoint_interval(5).callback(PoisonAt(10));
    let error = model(7).fit_batches(&mut dataset(), options).unwrap_err().to_string();
    assert!(error.contains("not finite"), "{error}");
    assert_eq!(read_training_state(&dir).unwrap().unwrap().step, 5, "the step-5 checkpoint is kept");
}

#[test]
fn resume_rejects_finished_run() {
    let dir = temp_dir("finished");
    let mut first = model(7);
    first.fit_batches(&mut dataset(), StepOptions::new(5).verbose(false).checkpoint_dir(&dir)).unwrap();
    let mut second = model(7);
    let state = load_checkpoint(&dir, &second.parameters()).unwrap();
    let error = second.fit_batches(&mut dataset(), StepOptions::new(5).verbose(false).resume_from(state)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "fit_batches (resume): the checkpoint is at step 5, and the run asks for 5 steps; ask for more steps to continue it"
    );
}

#[test]
fn resume_rejects_other_weights() {
    let dir = temp_dir("other-weights");
    model(7).fit_batches(&mut dataset(), StepOptions::new(3).verbose(false).checkpoint_dir(&dir)).unwrap();
    let state = read_training_state(&dir).unwrap().unwrap();
    let error = model(8).fit_batches(&mut dataset(), StepOptions::new(5).verbose(false).resume_from(state)).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("fit_batches (resume): the model's weights (SHA-256 "), "{message}");
    assert!(message.ends_with("load both with checkpoint::load_checkpoint"), "{message}");
}

#[test]
fn resume_rejects_other_optimizer() {
    let dir = temp_dir("other-optimizer");
    let mut first = model(7);
    first.fit_batches(&mut dataset(), StepOptions::new(3).verbose(false).checkpoint_dir(&dir)).unwrap();
    let mut second = Model::from(Gpt::with_seed(config(), 7).unwrap());
    second.compile("sgd", "sparse_categorical_crossentropy", &["sparse_categorical_accuracy"]).unwrap();
    let state = load_checkpoint(&dir, &second.parameters()).unwrap();
    let error = second.fit_batches(&mut dataset(), StepOptions::new(5).verbose(false).resume_from(state)).unwrap_err();
    assert!(error.to_string().contains("saved by optimizer `adamw` and cannot be loaded into `sgd`"), "{error}");
}

#[test]
fn save_gpt_with_state_round_trips() {
    let dir = temp_dir("save-gpt");
    let mut trained = model(7);
    trained.fit_batches(&mut dataset(), StepOptions::new(4).verbose(false).checkpoint_dir(&dir)).unwrap();
    let state = read_training_state(&dir).unwrap().unwrap();

    let copy = temp_dir("save-gpt-copy");
    checkpoint::save_gpt(&copy, trained.net(), "bytes", Some(&state)).unwrap();
    let (gpt, config, loaded) = checkpoint::load_gpt(&copy).unwrap();
    assert_eq!(config.config, self::config());
    assert_eq!(loaded.as_ref(), Some(&state));
    assert_eq!(weights_digest(&aigc_nn::Module::parameters(&gpt)), state.weights_sha256);

    // Saving without a state drops the old one, which belongs to other weights.
    checkpoint::save_gpt(&copy, trained.net(), "bytes", None).unwrap();
    assert!(!copy.join(checkpoint::TRAINING_STATE_FILE).exists());
}

#[test]
fn identical_runs_write_identical_checkpoints() {
    let dirs = [temp_dir("bytes-a"), temp_dir("bytes-b")];
    for dir in &dirs {
        checkpoint::write_model_config(dir, &config(), "bytes").unwrap();
        let options = StepOptions::new(6).eval_interval(3).seed(2).verbose(false).checkpoint_dir(dir);
        model_with_dropout(7, 0.1).fit_batches(&mut dataset(), options).unwrap();
    }
    for file in [checkpoint::CONFIG_FILE, checkpoint::WEIGHTS_FILE, checkpoint::TRAINING_STATE_FILE] {
        let bytes = dirs.each_ref().map(|dir| std::fs::read(dir.join(file)).unwrap());
        assert!(bytes[0] == bytes[1], "{file} differs between two identical runs");
    }
}

#[test]
fn weights_metadata_is_sorted_and_readable() {
    let params = model(7).parameters();
    // Each encoding builds its metadata anew, as separate runs do.
    let encodings: Vec<Vec<u8>> = (0..8).map(|_| checkpoint::encode_weights(&params).unwrap()).collect();
    assert!(encodings.iter().all(|bytes| *bytes == encodings[0]), "encodings of the same weights differ");

    let bytes = &encodings[0];
    let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(length % 8, 0, "the header keeps the data 8-byte aligned");
    let header = std::str::from_utf8(&bytes[8..8 + length]).unwrap();
    assert!(header.starts_with(r#"{"__metadata__":{"aigc_format_version":"1","format":"pt"},"#), "{header}");

    // The safetensors crate reads the metadata and every tensor back.
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let stored = metadata.metadata().clone().unwrap();
    assert_eq!(stored.get("format").map(String::as_str), Some("pt"));
    let tensors = checkpoint::decode_safetensors(std::path::Path::new("model.safetensors"), bytes).unwrap();
    assert_eq!(tensors.len(), params.len());
    for param in &params {
        assert_eq!(tensors[&param.name].to_vec(), param.var.value().to_vec(), "{}", param.name);
    }
}

#[test]
fn safetensors_without_tensors_keeps_metadata() {
    let metadata = std::collections::BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = checkpoint::encode_safetensors(&[], &metadata).unwrap();
    let (_, read) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(read.metadata().clone().unwrap().get("format").map(String::as_str), Some("pt"));
    assert!(checkpoint::decode_safetensors(std::path::Path::new("empty"), &bytes).unwrap().is_empty());
}
