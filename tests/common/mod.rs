//! Helpers shared by the integration tests: running the `aigc` binary,
//! reading its output, finding the corpora and making temporary directories.
//!
//! Each test file that needs them declares `mod common;`. Not every file
//! uses every helper, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Builds a command for the `aigc` binary under test, on two rayon threads.
pub fn aigc_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aigc"));
    command.env("RAYON_NUM_THREADS", "2");
    command
}

/// Runs `aigc` with `args` to completion and captures its output.
pub fn aigc(args: &[&str]) -> Output {
    aigc_command().args(args).output().expect("run aigc")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Returns the directory of the real corpora: `$AIGC_DATA`, or `../shared/data` next to the repository.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("AIGC_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    }
}

pub fn shakespeare() -> PathBuf {
    let path = data_dir().join("tinyshakespeare.txt");
    assert!(path.is_file(), "{} not found; set AIGC_DATA to the directory holding the corpora", path.display());
    path
}

/// Creates an empty directory for one test, named after the test binary
/// and unique to this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc-{}-{name}-{}", env!("CARGO_CRATE_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Asserts a clean failure: exit code 1, an `error:` line naming `needle`, no panic.
pub fn assert_fails_with(output: &Output, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "expected exit code 1, stderr: {err}");
    assert!(err.contains("error:"), "no error line in: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
}
