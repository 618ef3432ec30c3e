//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use aigc_tokenizer::Tokenizer;

/// Returns the folder of shared test corpora: `$AIGC_DATA` when set, else
/// `shared/data` beside the workspace.
///
/// Panics with a message naming `AIGC_DATA` when the folder is missing.
pub fn data_dir() -> PathBuf {
    let dir = match std::env::var_os("AIGC_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
    };
    assert!(
        dir.is_dir(),
        "test data folder {} not found; set AIGC_DATA to the folder that holds tinyshakespeare.txt and chatterbot/",
        dir.display()
    );
    dir
}

/// Returns the path of a file under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Returns a short English and Chinese corpus, repeated so that pairs occur often
/// enough to be merged.
pub fn small_corpus() -> Vec<String> {
    let lines = [
        "The quick brown fox jumps over the lazy dog.\n",
        "the the the then there their other mother brother\n",
        "    indented   with  tabs\tand spaces\r\n",
        "我们今天学习机器学习。我们明天也学习。\n",
        "emoji: 🎉🎉 😀 — and “quotes” ‘here’\n",
        "User: <|user|> hi <|end|>\n",
    ];
    lines
        .iter()
        .cycle()
        .take(60)
        .map(|s| s.to_string())
        .collect()
}

/// Trains a 400-token BPE on [`small_corpus`].
pub fn small_bpe() -> Tokenizer {
    Tokenizer::train_from_texts(&small_corpus(), 400).expect("training on the small corpus")
}
