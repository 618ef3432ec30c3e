//! Decoding any bytes as training_state.bin fails cleanly or succeeds. The
//! input is tried twice: as the whole file, and as a payload behind a valid
//! header and checksum, so the fuzzer reaches the payload decoder.
#![no_main]

use std::path::Path;

use aigc_train::checkpoint::{decode_training_state, TRAINING_STATE_VERSION};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("training_state.bin");
    let _ = decode_training_state(path, data);

    let mut file = b"AIGCSTAT".to_vec();
    file.extend_from_slice(&TRAINING_STATE_VERSION.to_le_bytes());
    file.extend_from_slice(&(data.len() as u64).to_le_bytes());
    file.extend_from_slice(&Sha256::digest(data));
    file.extend_from_slice(data);
    let _ = decode_training_state(path, &file);
});
