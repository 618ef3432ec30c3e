//! Encoding, decoding, special tokens and `tokenizer.json` files.

mod common;

use std::sync::OnceLock;

use aigc_tokenizer::{SpecialToken, Tokenizer, TokenizerError, MIN_VOCAB_SIZE};
use common::{data_dir, small_bpe, small_corpus};
use proptest::prelude::*;

fn shared_bpe() -> &'static Tokenizer {
    static BPE: OnceLock<Tokenizer> = OnceLock::new();
    BPE.get_or_init(small_bpe)
}

/// Text with the hard cases: multi-byte characters, emoji, whitespace runs,
/// control characters and special token strings.
const TRICKY: &[&str] = &[
    "",
    " ",
    "\n",
    "\r\n\r\n",
    "   leading and trailing   ",
    "tabs\t\tand\u{000b}vertical\u{000c}feeds",
    "我们今天学习机器学习。",
    "混合 mixed 文字 text",
    "🎉👨‍👩‍👧‍👦🏳️‍🌈",
    "e\u{0301} vs é",
    "\u{0}\u{1}\u{7f}\u{80}\u{ff}\u{feff}",
    "<|user|><|assistant|><|end|><|bos|><|system|><|pad|>",
    "<|user",
    "|>",
    "ĠĊ",
];

#[test]
fn byte_level_layout() -> Result<(), TokenizerError> {
    let tokenizer = Tokenizer::byte_level();
    assert_eq!(tokenizer.vocab_size(), 262);
    assert_eq!(tokenizer.vocab_size(), MIN_VOCAB_SIZE);
    for (id, token) in SpecialToken::ALL.iter().enumerate() {
        assert_eq!(tokenizer.special_id(*token), id as u32);
    }
    assert_eq!(
        tokenizer.encode("Ab")?,
        vec![6 + u32::from(b'A'), 6 + u32::from(b'b')]
    );
    assert_eq!(tokenizer.encode("中")?.len(), 3);
    assert_eq!(tokenizer.token_bytes(6 + 0xe4)?, &[0xe4]);
    Ok(())
}

#[test]
fn tokenizer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
}

#[test]
fn special_accessors_match_contents() {
    for tokenizer in [Tokenizer::byte_level(), shared_bpe().clone()] {
        let accessors = [
            (SpecialToken::Bos, tokenizer.bos_id()),
            (SpecialToken::User, tokenizer.user_id()),
            (SpecialToken::Assistant, tokenizer.assistant_id()),
            (SpecialToken::System, tokenizer.system_id()),
            (SpecialToken::End, tokenizer.end_id()),
            (SpecialToken::Pad, tokenizer.pad_id()),
        ];
        for (token, id) in accessors {
            assert_eq!(
                tokenizer.token_to_id(token.content()),
                Some(id),
                "{token:?}"
            );
            assert_eq!(tokenizer.id_to_token(id).as_deref(), Some(token.content()));
            assert!(tokenizer.is_special(id));
            assert_eq!(tokenizer.decode(&[id]).unwrap(), token.content());
        }
    }
}

#[test]
fn tricky_strings_round_trip() {
    for tokenizer in [Tokenizer::byte_level(), shared_bpe().clone()] {
        for &text in TRICKY {
            let ids = tokenizer.encode(text).unwrap();
            assert_eq!(tokenizer.decode(&ids).unwrap(), text, "ids {ids:?}");
            // The Hugging Face decoder reads the same bytes from the vocabulary.
            assert_eq!(
                tokenizer.as_hf().decode(&ids, false).unwrap(),
                text,
                "ids {ids:?}"
            );
        }
    }
}

/// Returns the ids from the full `tokenizers` pipeline, which
/// [`Tokenizer::encode`] bypasses for speed.
fn hf_pipeline_ids(tokenizer: &Tokenizer, text: &str) -> Vec<u32> {
    tokenizer
        .as_hf()
        .encode_fast(text, false)
        .unwrap()
        .get_ids()
        .to_vec()
}

#[test]
fn encode_matches_hf_pipeline() {
    for tokenizer in [Tokenizer::byte_level(), shared_bpe().clone()] {
        for &text in TRICKY {
            assert_eq!(
                tokenizer.encode(text).unwrap(),
                hf_pipeline_ids(&tokenizer, text),
                "{text:?}"
            );
        }
    }
}

#[test]
fn special_strings_encode_as_text() {
    let tokenizer = shared_bpe();
    for token in SpecialToken::ALL {
        let ids = tokenizer.encode(token.content()).unwrap();
        assert!(ids.len() > 1, "{} encoded to {ids:?}", token.content());
        assert!(
            ids.iter().all(|&id| !tokenizer.is_special(id)),
            "{} encoded to {ids:?}",
            token.content()
        );
    }
}

#[test]
fn bpe_merges_frequent_pairs() {
    let tokenizer = shared_bpe();
    assert!(
        tokenizer.vocab_size() > MIN_VOCAB_SIZE,
        "no merges were learned"
    );
    assert!(tokenizer.vocab_size() <= 400);
    let text = "the quick brown fox";
    assert!(tokenizer.encode(text).unwrap().len() < text.len());
    // A CJK run seen in training becomes fewer tokens than its 3-byte characters.
    let chinese = "我们今天学习机器学习";
    assert!(tokenizer.encode(chinese).unwrap().len() < chinese.len());
}

#[test]
fn vocab_size_below_minimum_is_rejected() {
    let err = Tokenizer::train_from_texts(&["abc"], 261).unwrap_err();
    assert_eq!(
        err.to_string(),
        "vocabulary size 261 is too small: byte-level BPE needs at least 262 tokens (256 bytes and the special tokens)"
    );
}

#[test]
fn empty_corpus_gives_byte_level() {
    let empty: [&str; 0] = [];
    let tokenizer = Tokenizer::train_from_texts(&empty, 1000).unwrap();
    assert_eq!(tokenizer.vocab_size(), MIN_VOCAB_SIZE);
    assert_eq!(
        tokenizer
            .decode(&tokenizer.encode("héllo").unwrap())
            .unwrap(),
        "héllo"
    );
}

#[test]
fn unknown_id_names_id_and_size() {
    let tokenizer = Tokenizer::byte_level();
    let err = tokenizer.decode(&[65, 262]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "token id 262 is out of range for a vocabulary of 262 tokens (valid ids are 0..262)"
    );
    assert!(matches!(
        err,
        TokenizerError::UnknownId {
            id: 262,
            vocab_size: 262
        }
    ));
}

#[test]
fn decode_split_character_is_lossy() {
    let tokenizer = Tokenizer::byte_level();
    let ids = tokenizer.encode("中").unwrap();
    assert_eq!(tokenizer.decode(&ids[..2]).unwrap(), "\u{fffd}");
}

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    let tokenizer = shared_bpe();
    tokenizer.save(&path).unwrap();

    let loaded = Tokenizer::from_file(&path).unwrap();
    assert_eq!(loaded.vocab_size(), tokenizer.vocab_size());
    for token in SpecialToken::ALL {
        assert_eq!(loaded.special_id(token), tokenizer.special_id(token));
    }
    for &text in TRICKY {
        assert_eq!(
            loaded.encode(text).unwrap(),
            tokenizer.encode(text).unwrap(),
            "{text:?}"
        );
    }
    // Only the final file remains: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["tokenizer.json"]);
}

#[test]
fn saved_file_is_hugging_face_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    Tokenizer::byte_level().save(&path).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["model"]["type"], "BPE");
    assert_eq!(json["pre_tokenizer"]["type"], "ByteLevel");
    assert_eq!(json["decoder"]["type"], "ByteLevel");
    assert_eq!(json["normalizer"], serde_json::Value::Null);
    let added = json["added_tokens"].as_array().unwrap();
    assert_eq!(added.len(), 6);
    assert_eq!(added[1]["content"], "<|user|>");
    assert_eq!(added[1]["special"], true);
}

#[test]
fn save_replaces_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "old").unwrap();
    shared_bpe().save(&path).unwrap();
    assert_eq!(
        Tokenizer::from_file(&path).unwrap().vocab_size(),
        shared_bpe().vocab_size()
    );
}

#[test]
fn save_into_missing_folder_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing/tokenizer.json");
    let err = Tokenizer::byte_level().save(&path).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("failed to write "), "{message}");
    assert!(
        message.contains("missing/.tokenizer.json.tmp-"),
        "{message}"
    );
}

#[test]
fn load_missing_file_names_path() {
    let err = Tokenizer::from_file("/nonexistent/tokenizer.json").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to read /nonexistent/tokenizer.json: "),
        "{err}"
    );
}

#[test]
fn load_rejects_invalid_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "{ not json").unwrap();
    let err = Tokenizer::from_file(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("invalid tokenizer file {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn load_rejects_missing_special_token() {
    let json = edit_saved_json(|json| {
        let added = json["added_tokens"].as_array_mut().unwrap();
        added.retain(|token| token["content"] != "<|pad|>");
    });
    let err = load_json(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported tokenizer: the special token <|pad|> is missing; a chat tokenizer needs all of <|bos|>, <|user|>, <|assistant|>, <|system|>, <|end|>, <|pad|>"
    );
}

#[test]
fn load_rejects_merge_spelling_special_token() {
    let json = edit_saved_json(|json| {
        let vocab = json["model"]["vocab"].as_object_mut().unwrap();
        let steps = ["<|", "<|u", "<|us", "<|use", "<|user", "<|user|"];
        for (offset, token) in steps.iter().enumerate() {
            vocab.insert(token.to_string(), (262 + offset).into());
        }
        json["model"]["merges"] = serde_json::json!([
            ["<", "|"],
            ["<|", "u"],
            ["<|u", "s"],
            ["<|us", "e"],
            ["<|use", "r"],
            ["<|user", "|"],
            ["<|user|", ">"]
        ]);
    });
    let err = load_json(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported tokenizer: the merge \"<|user|\" + \">\" spells the special token <|user|>, so plain text could encode to it"
    );
}

#[test]
fn load_rejects_duplicate_id() {
    let json = edit_saved_json(|json| {
        json["model"]["vocab"]["a"] = 0.into(); // the id of <|bos|>
    });
    let err = load_json(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported tokenizer: two tokens have id 0, so decoding it would be ambiguous"
    );
}

#[test]
fn load_rejects_normalizer() {
    let json = edit_saved_json(|json| {
        json["normalizer"] = serde_json::json!({"type": "NFC"});
    });
    let err = load_json(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported tokenizer: the tokenizer has a normalizer, which would change text before encoding and make decoding lossy"
    );
}

#[test]
fn load_rejects_missing_byte() {
    let json = edit_saved_json(|json| {
        let vocab = json["model"]["vocab"].as_object_mut().unwrap();
        let id = vocab.remove("Ġ").unwrap();
        // Keep ids contiguous by moving the last token into the freed id.
        let (last_token, _) = vocab
            .iter()
            .max_by_key(|(_, v)| v.as_u64())
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        vocab.insert(last_token, id);
    });
    let err = load_json(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported tokenizer: the vocabulary has no token for byte 0x20, so text containing it could not be encoded"
    );
}

#[test]
fn train_from_files_matches_texts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.txt");
    std::fs::write(&path, small_corpus().concat()).unwrap();
    let from_file = Tokenizer::train_from_files(&[&path], 400).unwrap();
    assert_eq!(from_file.vocab_size(), shared_bpe().vocab_size());
    for &text in TRICKY {
        assert_eq!(
            from_file.encode(text).unwrap(),
            shared_bpe().encode(text).unwrap(),
            "{text:?}"
        );
    }
}

#[test]
fn train_from_missing_file_names_it() {
    let err = Tokenizer::train_from_files(&["/nonexistent/corpus.txt"], 300).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to read corpus file /nonexistent/corpus.txt: "),
        "{err}"
    );
}

#[test]
fn train_from_non_utf8_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.txt");
    std::fs::write(&path, b"caf\xe9\n").unwrap();
    let err = Tokenizer::train_from_files(&[&path], 300).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("failed to read corpus file {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn corpus_files_round_trip_whole() {
    let tokenizer = shared_bpe();
    let byte_level = Tokenizer::byte_level();
    let mut checked = 0;
    for path in corpus_files(&data_dir()) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // binary or non-UTF-8 files are not text corpora
        };
        for t in [tokenizer, &byte_level] {
            let ids = t.encode(&text).unwrap();
            assert!(
                ids.iter().all(|&id| !t.is_special(id)),
                "{} produced a special id",
                path.display()
            );
            assert!(
                t.decode(&ids).unwrap() == text,
                "{} did not round-trip",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} corpus files found");
}

fn corpus_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(corpus_files(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn edit_saved_json(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(&Tokenizer::byte_level().as_hf().to_string(false).unwrap()).unwrap();
    edit(&mut json);
    json.to_string()
}

fn load_json(json: &str) -> Result<Tokenizer, TokenizerError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, json).unwrap();
    Tokenizer::from_file(&path)
}

/// Strings with a special token's text at a random place in random text.
fn text_with_special() -> impl Strategy<Value = String> {
    (
        any::<String>(),
        prop::sample::select(SpecialToken::ALL.to_vec()),
        any::<String>(),
    )
        .prop_map(|(before, token, after)| format!("{before}{}{after}", token.content()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn byte_level_round_trips(text in any::<String>()) {
        let tokenizer = Tokenizer::byte_level();
        let ids = tokenizer.encode(&text).unwrap();
        prop_assert_eq!(ids.len(), text.len());
        prop_assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }

    #[test]
    fn bpe_round_trips(text in any::<String>()) {
        let tokenizer = shared_bpe();
        let ids = tokenizer.encode(&text).unwrap();
        prop_assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }

    #[test]
    fn bpe_matches_hf_pipeline(text in any::<String>()) {
        let tokenizer = shared_bpe();
        prop_assert_eq!(tokenizer.encode(&text).unwrap(), hf_pipeline_ids(tokenizer, &text));
    }

    #[test]
    fn bpe_round_trips_corpus_like_text(text in "[a-z 我们学习。🎉\n\t<|>]{0,80}") {
        let tokenizer = shared_bpe();
        let ids = tokenizer.encode(&text).unwrap();
        prop_assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }

    #[test]
    fn text_never_encodes_to_special_ids(text in text_with_special()) {
        for tokenizer in [shared_bpe(), &Tokenizer::byte_level()] {
            let ids = tokenizer.encode(&text).unwrap();
            prop_assert!(ids.iter().all(|&id| !tokenizer.is_special(id)), "{:?} -> {:?}", text, ids);
            prop_assert_eq!(tokenizer.decode(&ids).unwrap(), text.clone());
        }
    }
}
