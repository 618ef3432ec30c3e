//! `aigc chat` as a user runs it: piped stdin (commands, end of input,
//! Chinese text), `--prompt` one-shot replies, bad model directories and
//! messages too long for the context, and a real terminal through tmux.
//!
//! The model is trained here, once per test binary: a small GPT with a BPE
//! tokenizer that memorises a few English and Chinese exchanges through the
//! same `ConversationDataset` + `fit_batches` path as `aigc demo`, in
//! seconds, so each test knows the greedy reply in advance.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aigc_gpt::{Gpt, GptConfig};
use aigc_optim::AdamW;
use aigc_tokenizer::{Conversation, Message, Role, Tokenizer};
use aigc_train::chat_dataset::ConversationDataset;
use aigc_train::checkpoint::{save_gpt, save_tokenizer, TOKENIZER_FILE};
use aigc_train::{Model, StepOptions};
use common::{aigc_command, assert_fails_with, stderr, stdout, temp_dir};

/// The exchanges the fixture model learns: (user, assistant).
const EXCHANGES: [(&str, &str); 4] = [
    ("hello", "Hello! Nice to meet you."),
    ("你好", "你好！很高兴认识你。"),
    ("what is aigc?", "A deep learning framework in Rust."),
    ("谢谢", "不客气！"),
];

const BLOCK_SIZE: usize = 64;

fn reply_to(user: &str) -> &'static str {
    EXCHANGES.iter().find(|(question, _)| *question == user).map(|(_, answer)| *answer).expect("a known question")
}

/// The fixture's training conversations: every exchange alone and after
/// every other one.
fn conversations() -> Vec<Conversation> {
    let exchange = |(user, assistant): (&str, &str)| vec![Message::new(Role::User, user), Message::new(Role::Assistant, assistant)];
    let mut conversations: Vec<Conversation> = EXCHANGES.iter().map(|&e| exchange(e)).collect();
    for &first in &EXCHANGES {
        for &second in &EXCHANGES {
            let mut pair = exchange(first);
            pair.extend(exchange(second));
            conversations.push(pair);
        }
    }
    conversations
}

/// Trains and saves the fixture model once; returns its directory.
fn chat_model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("model");
        let texts: Vec<&str> = EXCHANGES.iter().flat_map(|(user, assistant)| [*user, *assistant]).collect();
        let tokenizer = Tokenizer::train_from_texts(&texts, 300).unwrap();
        let conversations = conversations();
        let mut dataset = ConversationDataset::new(&tokenizer, &conversations, BLOCK_SIZE, 8, 0.0, 0).unwrap();

        let config = GptConfig {
            vocab_size: tokenizer.vocab_size(),
            n_layer: 2,
            n_head: 4,
            n_embd: 64,
            block_size: BLOCK_SIZE,
            dropout: 0.0,
            bias: true,
        };
        let mut model = Model::from(Gpt::new(config).unwrap());
        model.compile(Box::new(AdamW::new(3e-3, 0.0)) as Box<dyn aigc_optim::Optimizer>, "sparse_categorical_crossentropy", &[]).unwrap();
        let history = model.fit_batches(&mut dataset, StepOptions::new(250).eval_interval(50).verbose(false)).unwrap();
        let loss = *history.get("loss").unwrap().last().unwrap();
        assert!(loss < 0.02, "the fixture model did not memorise its exchanges: loss {loss}");

        save_tokenizer(&dir, &tokenizer).unwrap();
        save_gpt(&dir, model.net(), TOKENIZER_FILE, None).unwrap();
        dir
    })
}

/// Runs `aigc chat --model DIR` with greedy decoding, `extra` arguments and `stdin` as its input.
fn chat_with_stdin(extra: &[&str], stdin: &str) -> Output {
    let dir = chat_model_dir();
    let mut child = aigc_command()
        .args(["chat", "--model", dir.to_str().unwrap(), "--temperature", "0"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aigc chat");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn chat_prompt(extra: &[&str]) -> Output {
    let dir = chat_model_dir();
    aigc_command()
        .args(["chat", "--model", dir.to_str().unwrap(), "--temperature", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run aigc chat")
}

fn assert_success(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
}

#[test]
fn prompt_prints_one_reply() {
    let output = chat_prompt(&["--prompt", "hello"]);
    assert_success(&output);
    assert_eq!(stdout(&output), format!("{}\n", reply_to("hello")));
}

#[test]
fn prompt_in_chinese() {
    let output = chat_prompt(&["--prompt", "你好"]);
    assert_success(&output);
    assert_eq!(stdout(&output), format!("{}\n", reply_to("你好")));
}

#[test]
fn stdin_turns_keep_history_and_exit_at_eof() {
    let output = chat_with_stdin(&[], "hello\n你好\nwhat is aigc?\n");
    assert_success(&output);
    let expected = format!("{}\n{}\n{}\n", reply_to("hello"), reply_to("你好"), reply_to("what is aigc?"));
    assert_eq!(stdout(&output), expected, "one reply per line and no prompt marker when stdin is not a terminal");
}

#[test]
fn empty_input_exits_cleanly() {
    let output = chat_with_stdin(&[], "");
    assert_success(&output);
    assert_eq!(stdout(&output), "");
}

#[test]
fn blank_lines_are_skipped() {
    let output = chat_with_stdin(&[], "\n   \nhello\n\n");
    assert_success(&output);
    assert_eq!(stdout(&output), format!("{}\n", reply_to("hello")));
}

#[test]
fn exit_command_stops_reading() {
    let output = chat_with_stdin(&[], "hello\n/exit\n谢谢\n");
    assert_success(&output);
    assert_eq!(stdout(&output), format!("{}\n", reply_to("hello")), "nothing after /exit is answered");
}

#[test]
fn help_lists_commands() {
    let output = chat_with_stdin(&[], "/help\n");
    assert_success(&output);
    let out = stdout(&output);
    for command in ["/help", "/reset", "/exit"] {
        assert!(out.contains(command), "{command} missing from the help: {out}");
    }
}

#[test]
fn reset_clears_history() {
    let output = chat_with_stdin(&[], "hello\n/reset\n谢谢\n");
    assert_success(&output);
    let expected = format!("{}\n(conversation cleared)\n{}\n", reply_to("hello"), reply_to("谢谢"));
    assert_eq!(stdout(&output), expected);
}

#[test]
fn unknown_command_is_reported() {
    let output = chat_with_stdin(&[], "/frobnicate\nhello\n");
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.contains("unknown command /frobnicate"), "{out}");
    assert!(out.ends_with(&format!("{}\n", reply_to("hello"))), "the session goes on: {out}");
}

#[test]
fn stop_string_cuts_reply() {
    let output = chat_prompt(&["--prompt", "hello", "--stop", "Nice"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "Hello! \n");
}

#[test]
fn max_tokens_cuts_reply_with_note() {
    let output = chat_prompt(&["--prompt", "hello", "--max-tokens", "1"]);
    assert_success(&output);
    assert!(reply_to("hello").starts_with(stdout(&output).trim_end()), "{}", stdout(&output));
    assert!(stderr(&output).contains("stopped at 1 tokens (--max-tokens)"), "{}", stderr(&output));
}

#[test]
fn same_seed_same_sampled_reply() {
    let sampled = |seed: &str| stdout(&chat_prompt(&["--prompt", "hello", "--temperature", "1.5", "--seed", seed]));
    assert_eq!(sampled("11"), sampled("11"));
}

#[test]
fn too_long_prompt_is_an_error() {
    let long = "word ".repeat(200);
    let output = chat_prompt(&["--prompt", &long]);
    assert_fails_with(&output, "message is too long");
    assert!(stderr(&output).contains(&format!("context is {BLOCK_SIZE} tokens")), "{}", stderr(&output));
}

#[test]
fn too_long_line_keeps_session_going() {
    let input = format!("{}\nhello\n", "word ".repeat(200));
    let output = chat_with_stdin(&[], &input);
    assert_success(&output);
    assert!(stderr(&output).contains("message is too long"), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{}\n", reply_to("hello")));
}

#[test]
fn long_conversation_drops_oldest_turns() {
    let input = "hello\n你好\nwhat is aigc?\n谢谢\nhello\n".to_string();
    let output = chat_with_stdin(&["--max-tokens", "24"], &input);
    assert_success(&output);
    assert!(stderr(&output).contains(&format!("oldest turn to fit the {BLOCK_SIZE}-token context")), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 5, "every message gets a reply: {}", stdout(&output));
}

#[test]
fn missing_model_dir_is_an_error() {
    let output = aigc_command().args(["chat", "--model", "/nonexistent/aigc-model", "--prompt", "hi"]).output().unwrap();
    assert_fails_with(&output, "not found");
}

#[test]
fn byte_level_model_is_rejected() {
    let dir = temp_dir("bytes");
    let model = Gpt::new(GptConfig { vocab_size: 256, n_layer: 1, n_head: 2, n_embd: 8, block_size: 16, dropout: 0.0, bias: true }).unwrap();
    save_gpt(&dir, &model, "bytes", None).unwrap();
    let output = aigc_command().args(["chat", "--model", dir.to_str().unwrap(), "--prompt", "hi"]).output().unwrap();
    assert_fails_with(&output, "byte-level model without tokenizer.json");
}

#[test]
fn invalid_options_are_rejected() {
    let dir = chat_model_dir().to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--max-tokens", "0"], "--max-tokens 0"),
        (&["--temperature=-1"], "temperature"),
        (&["--top-p", "1.5"], "top_p"),
        (&["--stop", ""], "--stop"),
    ];
    for (args, needle) in cases {
        let output = aigc_command().args(["chat", "--model", dir, "--prompt", "hi"]).args(args).output().unwrap();
        assert_fails_with(&output, needle);
    }
}

/// A tmux server of its own (`-L`), so the test never touches the user's sessions.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-u").args(["-L", &self.socket]).args(args).output().expect("run tmux")
    }

    fn capture(&self) -> String {
        stdout(&self.run(&["capture-pane", "-p", "-J", "-t", "chat"]))
    }

    /// Waits until the pane contains `needle`; panics with the pane after `timeout`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let pane = self.capture();
            if pane.contains(needle) {
                return pane;
            }
            assert!(started.elapsed() < timeout, "{needle:?} did not appear within {timeout:?}; the pane shows:\n{pane}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn terminal_session_in_tmux() {
    if Command::new("tmux").arg("-V").output().map(|o| !o.status.success()).unwrap_or(true) {
        println!("NOTE: tmux is not installed; skipping the terminal test of aigc chat");
        return;
    }
    let dir = chat_model_dir();
    let tmux = Tmux { socket: format!("aigc-chat-test-{}", std::process::id()) };
    // The shell prints the exit status after aigc ends, then keeps the pane open.
    let command = format!(
        "RAYON_NUM_THREADS=2 '{}' chat --model '{}' --temperature 0; echo \"exit status $?\"; sleep 60",
        env!("CARGO_BIN_EXE_aigc"),
        dir.display()
    );
    let started = tmux.run(&["new-session", "-d", "-s", "chat", "-x", "160", "-y", "40", &command]);
    assert!(started.status.success(), "tmux new-session failed: {}", stderr(&started));
    let timeout = Duration::from_secs(30);

    let banner = tmux.wait_for("> ", timeout);
    assert!(banner.contains("/help"), "the banner names the commands: {banner}");

    tmux.run(&["send-keys", "-t", "chat", "-l", "hello"]);
    tmux.run(&["send-keys", "-t", "chat", "Enter"]);
    tmux.wait_for(reply_to("hello"), timeout);

    tmux.run(&["send-keys", "-t", "chat", "-l", "你好"]);
    tmux.run(&["send-keys", "-t", "chat", "Enter"]);
    let pane = tmux.wait_for(reply_to("你好"), timeout);
    assert!(pane.contains("> 你好"), "the Chinese input is echoed after the prompt marker: {pane}");

    tmux.run(&["send-keys", "-t", "chat", "C-d"]);
    let pane = tmux.wait_for("exit status", timeout);
    assert!(pane.contains("exit status 0"), "Ctrl-D should exit with status 0: {pane}");
    assert!(!pane.contains("panicked"), "{pane}");
}
