//! A bounded fuzz pass, run with the other tests, over the inputs that
//! `tokenizer.rs` and `data.rs` do not already fuzz: damaged and arbitrary
//! `tokenizer.json` files, and arbitrary ids to decode. The cargo-fuzz
//! targets in `fuzz/` search the same inputs for longer.

use std::sync::OnceLock;

use aigc_tokenizer::{Tokenizer, MIN_VOCAB_SIZE};
use proptest::prelude::*;

/// A trained tokenizer and its `tokenizer.json`, built once per process.
fn trained() -> &'static (Tokenizer, Vec<u8>) {
    static TRAINED: OnceLock<(Tokenizer, Vec<u8>)> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let texts = ["the quick brown fox jumps over the lazy dog", "你好，世界"].repeat(10);
        let tokenizer = Tokenizer::train_from_texts(&texts, MIN_VOCAB_SIZE + 32).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        tokenizer.save(&path).unwrap();
        let json = std::fs::read(&path).unwrap();
        (tokenizer, json)
    })
}

/// Loads `bytes` as a tokenizer.json; a tokenizer that loads must encode and decode.
fn load(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, bytes).unwrap();
    if let Ok(tokenizer) = Tokenizer::from_file(&path) {
        let ids = tokenizer.encode("hello wörld <|user|>").unwrap();
        let _ = tokenizer.decode(&ids);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_tokenizer_json_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        load(&bytes);
    }

    #[test]
    fn damaged_tokenizer_json_never_panics(flips in prop::collection::vec((any::<usize>(), 1..=255u8), 1..6), cut in any::<usize>()) {
        let mut bytes = trained().1.clone();
        for (at, mask) in flips {
            let index = at % bytes.len();
            bytes[index] ^= mask;
        }
        load(&bytes);
        let original = &trained().1;
        load(&original[..cut % (original.len() + 1)]);
    }

    #[test]
    fn arbitrary_ids_decode_or_fail(ids in prop::collection::vec(any::<u32>(), 0..64)) {
        let tokenizer = &trained().0;
        let _ = tokenizer.decode(&ids);
        let mut stream = tokenizer.stream_decoder();
        for id in ids {
            let _ = stream.push(id);
        }
        let _ = stream.finish();
    }
}

#[test]
fn json_cut_inside_decoder_is_an_error() {
    // tokenizers 0.23.2 panics on this input unless from_file checks the JSON first.
    let json = &trained().1;
    let text = String::from_utf8_lossy(json);
    let decoder = text.find("\"decoder\"").expect("a decoder section");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, &json[..decoder + 20]).unwrap();

    let message = Tokenizer::from_file(&path).unwrap_err().to_string();

    assert!(message.starts_with(&format!("invalid tokenizer file {}: EOF while parsing", path.display())), "{message}");
}
