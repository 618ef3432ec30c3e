//! Loading any bytes as tokenizer.json fails cleanly or gives a tokenizer
//! that encodes and decodes.
#![no_main]

use aigc_tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("aigc-fuzz-tokenizer-{}.json", std::process::id()));
    std::fs::write(&path, data).expect("write the input");
    if let Ok(tokenizer) = Tokenizer::from_file(&path) {
        let ids = tokenizer.encode("hello, wörld <|user|>").expect("a loaded tokenizer encodes");
        let _ = tokenizer.decode(&ids);
        let _ = tokenizer.decode(&[0, 1, u32::MAX]);
    }
});
