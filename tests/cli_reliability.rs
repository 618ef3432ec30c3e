//! `aigc train` and `aigc sft` under interrupts, crashes and numerical
//! blow-ups: Ctrl-C and SIGTERM save a checkpoint and exit 0, a second
//! Ctrl-C exits at once, `--resume` continues bit for bit (also after
//! kill -9 and with dropout), rejects flags that disagree with the
//! checkpoint, and a diverged run names its last good checkpoint.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use aigc_nn::Module;
use aigc_train::checkpoint::{self, read_training_state, weights_digest};
use common::{aigc_command, stderr, temp_dir};

/// A 30 KB text with some structure, so the tests need no downloaded corpus.
fn write_corpus(dir: &Path) -> PathBuf {
    let words = ["the", "king", "and", "queen", "of", "a", "land", "where", "rivers", "run", "to", "sea", "wind"];
    let mut state = 12345u64;
    let mut text = String::new();
    while text.len() < 30_000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        text.push_str(words[(state >> 33) as usize % words.len()]);
        text.push(if (state >> 20) % 9 == 0 { '\n' } else { ' ' });
    }
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// `aigc train` arguments for a short, fast run into `out`.
fn train_args(data: &Path, out: &Path, steps: usize) -> Vec<String> {
    let args = [
        "train", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--block-size", "16",
        "--batch-size", "2", "--steps", &steps.to_string(), "--eval-interval", "25", "--log-interval", "1",
        "--checkpoint-interval", "10", "--seed", "5",
    ];
    args.iter().map(|arg| arg.to_string()).collect()
}

fn run(args: &[String]) -> Output {
    aigc_command().args(args).output().expect("run aigc")
}

/// Starts `aigc train` and waits until it has logged `lines` steps.
fn start_and_wait(args: &[String], lines: usize) -> (Child, Vec<String>) {
    let mut child = aigc_command().args(args).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn aigc");
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut steps = 0;
    while steps < lines {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("aigc ended before {lines} step logs: {seen:?}");
        }
        if line.starts_with("step ") {
            steps += 1;
        }
        seen.push(line);
    }
    // Keep draining stderr so the child never blocks on a full pipe; the
    // detached thread ends when the child closes it.
    std::thread::spawn(move || reader.lines().for_each(drop));
    (child, seen)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([format!("-{name}"), child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// The fields of each train_log.jsonl line that a resumed run must
/// reproduce exactly: everything but the throughput.
fn log_entries(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
            entry.as_object_mut().unwrap().remove("tokens_per_s");
            entry
        })
        .collect()
}

fn final_digest(out: &Path) -> String {
    read_training_state(out).unwrap().expect("a training state").weights_sha256
}

#[test]
fn interrupt_then_resume_is_exact() {
    let dir = temp_dir("interrupt");
    let data = write_corpus(&dir);
    let (full, part) = (dir.join("full"), dir.join("part"));
    // With dropout, so the masks after the resume must continue the saved streams.
    let args = |out: &Path| {
        let mut args = train_args(&data, out, 120);
        args.extend(["--dropout", "0.1"].map(String::from));
        args
    };

    let output = run(&args(&full));
    assert!(output.status.success(), "full run failed: {}", stderr(&output));

    let (mut child, _) = start_and_wait(&args(&part), 3);
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "an interrupted run exits 0");
    let state = read_training_state(&part).unwrap().expect("a checkpoint at the interrupt");
    assert!(state.step >= 3 && state.step < 120, "stopped at step {}", state.step);
    checkpoint::load_gpt(&part).expect("the checkpoint loads as a model");

    // The same command plus --resume: flags equal to the checkpoint's are accepted.
    let mut resume = args(&part);
    resume.extend(["--resume".to_string(), part.to_str().unwrap().to_string()]);
    let output = run(&resume);
    assert!(output.status.success(), "resume failed: {}", stderr(&output));
    assert!(stderr(&output).contains(&format!("resuming at step {}", state.step)), "{}", stderr(&output));
    assert!(!stderr(&output).contains("WARN"), "{}", stderr(&output));

    assert_eq!(log_entries(&part), log_entries(&full), "the resumed log differs from the uninterrupted one");
    assert_eq!(final_digest(&part), final_digest(&full), "the final weights differ");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupt_prints_where_it_saved() {
    let dir = temp_dir("message");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    let mut child = aigc_command().args(train_args(&data, &out, 400)).stderr(Stdio::piped()).spawn().unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("step ") {
        line.clear();
        assert_ne!(reader.read_line(&mut line).unwrap(), 0, "aigc ended before its first step log");
    }
    signal(&child, "INT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let status = child.wait().unwrap();

    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("interrupt received: saving a checkpoint after the current step"), "{rest}");
    let step = read_training_state(&out).unwrap().unwrap().step;
    let expected = format!(
        "interrupted: checkpoint of step {step} saved to {}; continue with the same command and --resume {}",
        out.display(),
        out.display()
    );
    assert!(rest.contains(&expected), "expected {expected:?} in: {rest}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_saves_checkpoint() {
    let dir = temp_dir("sigterm");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    let (mut child, _) = start_and_wait(&train_args(&data, &out, 400), 2);
    signal(&child, "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let state = read_training_state(&out).unwrap().expect("a checkpoint at SIGTERM");
    assert!(state.step >= 2 && state.step < 400, "stopped at step {}", state.step);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn second_interrupt_exits_at_once() {
    let dir = temp_dir("twice");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    // The small preset makes each step long enough that the second signal
    // lands while the first step after the interrupt is still running.
    let mut args = train_args(&data, &out, 400);
    let block_size = args.iter().position(|arg| arg == "--block-size").unwrap() + 1;
    args[block_size] = "64".to_string();
    args.extend(["--preset", "small"].map(String::from));
    let mut child = aigc_command().args(&args).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn aigc");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines().map(|line| line.unwrap());
    lines.by_ref().find(|line| line.starts_with("step ")).expect("aigc ended before its first step log");
    signal(&child, "INT");
    // Two signals sent back to back can merge into one before the process
    // runs, so the second goes only after the first was acknowledged.
    lines.by_ref().find(|line| line.contains("interrupt received")).expect("aigc ended without acknowledging Ctrl-C");
    signal(&child, "INT");
    let rest: Vec<String> = lines.collect();
    assert_eq!(child.wait().unwrap().code(), Some(130), "a second Ctrl-C exits with 130; stderr after it: {rest:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kill_nine_then_resume_is_exact() {
    let dir = temp_dir("sigkill");
    let data = write_corpus(&dir);
    let (full, part) = (dir.join("full"), dir.join("part"));
    let output = run(&train_args(&data, &full, 80));
    assert!(output.status.success(), "full run failed: {}", stderr(&output));

    let fresh = train_args(&data, &part, 80);
    let mut resume = fresh.clone();
    resume.extend(["--resume".to_string(), part.to_str().unwrap().to_string()]);
    let has_state = || read_training_state(&part).ok().flatten().is_some();

    for (round, lines) in [4, 13, 9].into_iter().enumerate() {
        let args = if has_state() { &resume } else { &fresh };
        let (mut child, _) = start_and_wait(args, lines);
        signal(&child, "KILL");
        child.wait().unwrap();
        // Whatever the kill interrupted, a checkpoint that was written still loads, state and all.
        if has_state() {
            let (_, _, state) = checkpoint::load_gpt(&part).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(state.is_some(), "round {round}: the state does not match the weights");
        }
    }
    let args = if has_state() { &resume } else { &fresh };
    let output = run(args);
    assert!(output.status.success(), "final resume failed: {}", stderr(&output));
    assert_eq!(log_entries(&part), log_entries(&full), "the resumed log differs from the uninterrupted one");
    assert_eq!(final_digest(&part), final_digest(&full), "the final weights differ");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn divergence_names_last_checkpoint() {
    let dir = temp_dir("nan");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    let mut args = train_args(&data, &out, 50);
    let interval = args.iter().position(|arg| arg == "--checkpoint-interval").unwrap();
    args[interval + 1] = "1".to_string();
    args.extend(["--lr", "1e30", "--warmup-steps", "0", "--grad-clip", "0"].map(String::from));
    let output = run(&args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("error: training diverged at step "), "{err}");
    assert!(err.contains("the last good checkpoint is step "), "{err}");
    let advice = format!(" in {}; resume from it with --resume {} and a lower --lr or --grad-clip 1, or with --skip-nonfinite", out.display(), out.display());
    assert!(err.contains(&advice), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // With --skip-nonfinite, each non-finite step is skipped and reported,
    // and the run stops after five in a row.
    // A second directory, because --out refuses to replace the first run's model.
    let out = dir.join("model-skip");
    let mut args = set_flag(&args, "--out", out.to_str().unwrap());
    args.push("--skip-nonfinite".to_string());
    let output = run(&args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let skips: Vec<&str> = err.lines().filter(|line| line.contains("skipped the update and halved the learning rate to")).collect();
    assert_eq!(skips.len(), 5, "{err}");
    assert!(skips[0].contains("(1 of 5 skips in a row allowed)"), "{err}");
    assert!(skips[4].contains("(5 of 5 skips in a row allowed)"), "{err}");
    assert!(err.contains("after --skip-nonfinite skipped 5 non-finite steps in a row and halved the learning rate at each"), "{err}");
    assert!(err.contains(&format!("resume from it with --resume {} and a lower --lr or --grad-clip 1\n", out.display())), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `args` with `--steps` set to `steps` and `extra` appended.
fn with(args: &[String], steps: usize, extra: &[&str]) -> Vec<String> {
    let mut args = set_flag(args, "--steps", &steps.to_string());
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args
}

/// `args` with `flag` set to `value`: replaced where present, appended otherwise.
fn set_flag(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut args = args.to_vec();
    match args.iter().position(|arg| arg == flag) {
        Some(at) => args[at + 1] = value.to_string(),
        None => args.extend([flag.to_string(), value.to_string()]),
    }
    args
}

/// `args` without `flag` and its value.
fn drop_flag(args: &[String], flag: &str) -> Vec<String> {
    let mut kept = args.to_vec();
    if let Some(at) = kept.iter().position(|arg| arg == flag) {
        kept.drain(at..at + 2);
    }
    kept
}

#[test]
fn resume_on_other_thread_count_is_silent() {
    let dir = temp_dir("threads");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    let args = train_args(&data, &out, 10);
    assert!(run(&args).status.success());

    // Trained with RAYON_NUM_THREADS=2, resumed on one thread: the sums do
    // not depend on the thread count, so there is nothing to warn about.
    let output = run(&with(&args, 12, &["--threads", "1", "--resume", out.to_str().unwrap()]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("threads and this run uses"), "{}", stderr(&output));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_keeps_checkpoint_precision() {
    if !aigc::tensor::gemm::Bf16Kernel::is_supported() {
        eprintln!("skipped: this CPU lacks AVX-512 BF16, so --precision bf16 is rejected");
        return;
    }
    let dir = temp_dir("precision");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    let args = train_args(&data, &out, 10);
    assert!(run(&with(&args, 10, &["--precision", "bf16"])).status.success());

    // Without the flag the run continues in bf16, as it started.
    let output = run(&with(&args, 12, &["--resume", out.to_str().unwrap()]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("continuing at --precision bf16, the checkpoint's precision"), "{}", stderr(&output));
    assert!(stderr(&output).contains("precision=bf16"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("to match"), "{}", stderr(&output));

    // An explicit other precision is honoured, with a warning.
    let output = run(&with(&args, 14, &["--precision", "f32", "--resume", out.to_str().unwrap()]));
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = "the checkpoint was trained at --precision bf16 and this run uses f32, so the losses will differ from an uninterrupted run; pass --precision bf16 to match";
    assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_rejects_conflicting_flags() {
    let dir = temp_dir("conflict");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    // train_args sets --block-size 16 and --seed 5 on the default tiny preset.
    let args = train_args(&data, &out, 10);
    assert!(run(&args).status.success());
    let state_before = std::fs::read(out.join("training_state.bin")).unwrap();

    let shown = out.display();
    let cases = [
        (("--block-size", "32"), format!("--block-size 32 differs from the checkpoint in {shown}, which has block_size 16; leave out --block-size when resuming (the run continues the checkpoint's model), or start a new run in another --out directory")),
        (("--preset", "small"), format!("--preset small (n_layer 6, n_head 6, n_embd 384) differs from the checkpoint in {shown}, which has n_layer 4, n_head 4, n_embd 128; leave out --preset when resuming (the run continues the checkpoint's model), or start a new run in another --out directory")),
        (("--dropout", "0.1"), format!("--dropout 0.1 differs from the checkpoint in {shown}, which has dropout 0; leave out --dropout when resuming (the run continues the checkpoint's model), or start a new run in another --out directory")),
        (("--seed", "6"), format!("--seed 6 differs from the seed of the checkpoint in {shown} (5); leave out --seed when resuming, or start a new run in another --out directory")),
    ];
    for ((flag, value), expected) in cases {
        let resume = set_flag(&with(&args, 20, &["--resume", out.to_str().unwrap()]), flag, value);
        let output = run(&resume);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{flag}: {err}");
        assert_eq!(err.trim_end(), format!("error: {expected}"), "{flag}");
    }
    assert_eq!(std::fs::read(out.join("training_state.bin")).unwrap(), state_before, "a rejected resume changes nothing");

    // Leaving the architecture flags and the seed out resumes the checkpoint's model.
    let bare = drop_flag(&drop_flag(&with(&args, 12, &["--resume", out.to_str().unwrap()]), "--block-size"), "--seed");
    let output = run(&bare);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read_training_state(&out).unwrap().unwrap().step, 12);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_rejects_directory_without_state() {
    let dir = temp_dir("no-state");
    let data = write_corpus(&dir);
    let missing = dir.join("missing");
    let mut args = train_args(&data, &dir.join("out"), 20);
    args.extend(["--resume".to_string(), missing.to_str().unwrap().to_string()]);
    let output = run(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(&format!("--resume {} not found", missing.display())), "{}", stderr(&output));

    // A finished run resumed with no more steps to take.
    let out = dir.join("done");
    assert!(run(&train_args(&data, &out, 10)).status.success());
    let mut args = train_args(&data, &out, 10);
    args.extend(["--resume".to_string(), out.to_str().unwrap().to_string()]);
    let output = run(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!(
            "error: --steps 10: the checkpoint in {} is already at step 10; pass a larger --steps to continue the run",
            out.display()
        )),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Pretrains a BPE model for `aigc sft`: a 300-token tokenizer and a few
/// training steps on the corpus. Returns the model directory.
fn bpe_model(dir: &Path, data: &Path) -> PathBuf {
    let tokenizer = dir.join("tokenizer.json");
    let args = ["tokenizer", "train", "--data", data.to_str().unwrap(), "--vocab-size", "300", "--out", tokenizer.to_str().unwrap()];
    let output = aigc_command().args(args).output().unwrap();
    assert!(output.status.success(), "tokenizer train failed: {}", stderr(&output));
    let model = dir.join("pretrained");
    let mut args = train_args(data, &model, 5);
    args.extend(["--tokenizer".to_string(), tokenizer.to_str().unwrap().to_string()]);
    let output = run(&args);
    assert!(output.status.success(), "pretraining failed: {}", stderr(&output));
    model
}

/// Twenty short English exchanges as chat JSONL.
fn write_chats(dir: &Path) -> PathBuf {
    let words = ["king", "queen", "land", "river", "sea"];
    let mut jsonl = String::new();
    for i in 0..20 {
        let (a, b) = (words[i % 5], words[(i / 5 + 1) % 5]);
        let record = serde_json::json!({"messages": [
            {"role": "user", "content": format!("where is the {a} {i}?")},
            {"role": "assistant", "content": format!("the {a} is by the {b}")},
        ]});
        jsonl.push_str(&format!("{record}\n"));
    }
    let path = dir.join("chats.jsonl");
    std::fs::write(&path, jsonl).unwrap();
    path
}

/// Returns the SHA-256 of the weights in a model directory.
fn weights_sha256(dir: &Path) -> String {
    let (gpt, _, _) = checkpoint::load_gpt(dir).unwrap();
    weights_digest(&gpt.parameters())
}

#[test]
fn sft_interrupt_then_resume_is_exact() {
    let dir = temp_dir("sft");
    let data = write_corpus(&dir);
    let model = bpe_model(&dir, &data);
    let chats = write_chats(&dir);
    let (full, part) = (dir.join("full"), dir.join("part"));
    let args = |out: &Path| -> Vec<String> {
        let args = [
            "sft", "--model", model.to_str().unwrap(), "--data", chats.to_str().unwrap(), "--out", out.to_str().unwrap(),
            "--steps", "60", "--batch-size", "4", "--eval-interval", "20", "--log-interval", "1", "--samples", "1",
            "--sample-tokens", "4",
        ];
        args.iter().map(|arg| arg.to_string()).collect()
    };

    let output = run(&args(&full));
    assert!(output.status.success(), "full run failed: {}", stderr(&output));

    let (mut child, _) = start_and_wait(&args(&part), 3);
    signal(&child, "INT");
    assert_eq!(child.wait().unwrap().code(), Some(0), "an interrupted sft exits 0");
    let state = read_training_state(&part).unwrap().expect("a checkpoint at the interrupt");
    assert!(state.step >= 3, "stopped at step {}", state.step);
    assert!(state.step < 60, "stopped at step {}", state.step);
    assert!(!part.join("sft_report.json").exists(), "an interrupted run writes no report");
    checkpoint::load_gpt(&part).expect("the checkpoint is a complete model directory");

    let mut resume = args(&part);
    resume.extend(["--resume".to_string(), part.to_str().unwrap().to_string()]);
    let output = run(&resume);
    assert!(output.status.success(), "resume failed: {}", stderr(&output));
    assert!(stderr(&output).contains(&format!("resuming at step {}", state.step)), "{}", stderr(&output));

    assert_eq!(log_entries(&part), log_entries(&full), "the resumed log differs from the uninterrupted one");
    assert_eq!(weights_sha256(&part), weights_sha256(&full), "the final weights differ");
    let report = |out: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(out.join("sft_report.json")).unwrap()).unwrap() };
    for field in ["heldout_loss_before", "heldout_loss_after", "samples"] {
        assert_eq!(report(&part)[field], report(&full)[field], "{field}");
    }

    // The pretrained model directory is no fine-tuning run to resume.
    let mut wrong = args(&dir.join("other"));
    wrong.extend(["--resume".to_string(), model.to_str().unwrap().to_string()]);
    let output = run(&wrong);
    assert_eq!(output.status.code(), Some(1));
    let expected = format!("--resume {} is the --model directory; give the --out directory of the fine-tuning run to continue", model.display());
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
    std::fs::remove_dir_all(&dir).unwrap();
}
