//! `aigc train` under interrupts, crashes and numerical blow-ups: Ctrl-C and
//! SIGTERM save a checkpoint and exit 0, a second Ctrl-C exits at once,
//! `--resume` continues bit for bit (also after kill -9), and a diverged run
//! names its last good checkpoint.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use aigc_train::checkpoint::{self, read_training_state};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-reliability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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

fn aigc() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aigc"));
    command.env("RAYON_NUM_THREADS", "2");
    command
}

fn run(args: &[String]) -> Output {
    aigc().args(args).output().expect("run aigc")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts `aigc train` and waits until it has logged `lines` steps.
fn start_and_wait(args: &[String], lines: usize) -> (Child, Vec<String>) {
    let mut child = aigc().args(args).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn aigc");
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

    let output = run(&train_args(&data, &full, 120));
    assert!(output.status.success(), "full run failed: {}", stderr(&output));

    let (mut child, _) = start_and_wait(&train_args(&data, &part, 120), 3);
    signal(&child, "INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "an interrupted run exits 0");
    let state = read_training_state(&part).unwrap().expect("a checkpoint at the interrupt");
    assert!(state.step >= 3 && state.step < 120, "stopped at step {}", state.step);
    checkpoint::load_gpt(&part).expect("the checkpoint loads as a model");

    let mut resume = train_args(&data, &part, 120);
    resume.extend(["--resume".to_string(), part.to_str().unwrap().to_string()]);
    let output = run(&resume);
    assert!(output.status.success(), "resume failed: {}", stderr(&output));
    assert!(stderr(&output).contains(&format!("resuming at step {}", state.step)), "{}", stderr(&output));

    assert_eq!(log_entries(&part), log_entries(&full), "the resumed log differs from the uninterrupted one");
    assert_eq!(final_digest(&part), final_digest(&full), "the final weights differ");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupt_prints_where_it_saved() {
    let dir = temp_dir("message");
    let data = write_corpus(&dir);
    let out = dir.join("model");
    let mut child = aigc().args(train_args(&data, &out, 400)).stderr(Stdio::piped()).spawn().unwrap();
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
    let (mut child, _) = start_and_wait(&train_args(&data, &out, 400), 2);
    signal(&child, "INT");
    signal(&child, "INT");
    assert_eq!(child.wait().unwrap().code(), Some(130), "a second Ctrl-C exits with 130");
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
    assert!(err.contains("error: fit_batches: training diverged at step "), "{err}");
    assert!(err.contains("the last good checkpoint is step "), "{err}");
    assert!(err.contains(&format!(" in {}; resume from it with a lower learning rate", out.display())), "{err}");
    assert!(!err.contains("panicked"), "{err}");
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
        stderr(&output).contains("the checkpoint is at step 10, and the run asks for 10 steps; ask for more steps to continue it"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
