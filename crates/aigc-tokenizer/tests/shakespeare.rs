//! A 4096-token BPE trained on Tiny Shakespeare: compression and speed.
//!
//! Prints training time, tokens per byte and encoding throughput. Run with
//! `cargo test -p aigc-tokenizer --release --test shakespeare -- --nocapture`
//! for meaningful speeds; the compression assertion applies in any profile.

mod common;

use std::time::Instant;

use aigc_tokenizer::Tokenizer;
use common::data_dir;

/// Byte-level BPE with 4096 tokens reaches about 0.3 tokens per byte on
/// Tiny Shakespeare; above 0.45 the merges are not being learned or applied.
const MAX_TOKENS_PER_BYTE: f64 = 0.45;

#[test]
fn bpe_4096_compresses_shakespeare() {
    let path = data_dir().join("tinyshakespeare.txt");
    let text = std::fs::read_to_string(&path).unwrap();

    let start = Instant::now();
    let tokenizer = Tokenizer::train_from_files(&[&path], 4096).unwrap();
    let train_seconds = start.elapsed().as_secs_f64();
    assert_eq!(tokenizer.vocab_size(), 4096);

    let start = Instant::now();
    let ids = tokenizer.encode(&text).unwrap();
    let encode_seconds = start.elapsed().as_secs_f64();

    let tokens_per_byte = ids.len() as f64 / text.len() as f64;
    let megabytes_per_second = text.len() as f64 / 1e6 / encode_seconds;
    println!(
        "tinyshakespeare.txt: {} bytes -> {} tokens ({tokens_per_byte:.3} tokens/byte); \
         training {train_seconds:.2} s; encoding {encode_seconds:.3} s ({megabytes_per_second:.2} MB/s)",
        text.len(),
        ids.len(),
    );

    assert!(
        tokens_per_byte < MAX_TOKENS_PER_BYTE,
        "{tokens_per_byte:.3} tokens/byte, expected below {MAX_TOKENS_PER_BYTE}"
    );
    assert!(
        tokenizer.decode(&ids).unwrap() == text,
        "Tiny Shakespeare did not round-trip"
    );
    let pipeline_ids = tokenizer.as_hf().encode_fast(text.as_str(), false).unwrap();
    assert!(
        ids == pipeline_ids.get_ids(),
        "encode differs from the tokenizers pipeline"
    );
}
