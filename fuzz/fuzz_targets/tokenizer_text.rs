//! Encoding any text and decoding any ids never panics, and encoding then
//! decoding gives the text back.
#![no_main]

use std::sync::OnceLock;

use aigc_tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;

/// A BPE tokenizer with real merges, trained once per process.
fn tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let texts = ["the quick brown fox jumps over the lazy dog", "你好，世界！こんにちは", "fn main() { println!(\"hi\"); }"];
        Tokenizer::train_from_texts(&texts.repeat(20), aigc_tokenizer::MIN_VOCAB_SIZE + 64).expect("train the fuzz tokenizer")
    })
}

fuzz_target!(|data: &[u8]| {
    let tokenizer = tokenizer();
    let text = String::from_utf8_lossy(data);
    let ids = tokenizer.encode(&text).expect("encoding valid UTF-8 succeeds");
    assert_eq!(tokenizer.decode(&ids).expect("decoding encoded ids succeeds"), text);

    // Arbitrary ids, out of range ones included: an error or text, never a panic.
    let ids: Vec<u32> = data.chunks(2).map(|c| u32::from(c[0]) << 1 | u32::from(c.len() > 1 && c[1] & 1 == 1)).collect();
    let _ = tokenizer.decode(&ids);
    let wide: Vec<u32> = data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let _ = tokenizer.decode(&wide);
    let mut stream = tokenizer.stream_decoder();
    for id in ids.iter().chain(&wide) {
        let _ = stream.push(*id);
    }
    let _ = stream.finish();
});
