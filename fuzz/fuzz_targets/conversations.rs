//! Parsing any text as JSON Lines or ChatterBot YAML conversations fails
//! cleanly or succeeds.
#![no_main]

use std::path::Path;

use aigc_tokenizer::data::{parse_chatterbot_yaml, parse_jsonl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_jsonl(&text, Path::new("fuzz.jsonl"));
    let _ = parse_chatterbot_yaml(&text, Path::new("fuzz.yml"));
});
