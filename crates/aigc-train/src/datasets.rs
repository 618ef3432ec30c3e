//! Public datasets: found under `AIGC_DATA`, or downloaded once into a cache
//! and checked against a SHA-256 checksum.
//!
//! Lookup order for a dataset file:
//! 1. `$AIGC_DATA/<file>` when `AIGC_DATA` is set (offline use; nothing is downloaded);
//! 2. `<cache>/<file>` when an earlier download is there and its checksum matches,
//!    where `<cache>` is `$AIGC_CACHE`, else `$XDG_CACHE_HOME/aigc`, else `~/.cache/aigc`;
//! 3. a download from the dataset's public source into the cache, verified
//!    before it is kept.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::checkpoint::write_atomic;
use crate::error::{Result, TrainError};

/// A dataset file with its public source and checksum.
#[derive(Debug, Clone, Copy)]
pub struct DatasetFile {
    /// File name under the data directory or cache.
    pub file_name: &'static str,
    /// Public download address.
    pub url: &'static str,
    /// Whether the download is gzip-compressed (the checksum is of the unpacked file).
    pub gzip: bool,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: &'static str,
}

/// Tiny Shakespeare (40 000 lines of plays, ASCII), from karpathy/char-rnn.
pub const TINY_SHAKESPEARE: DatasetFile = DatasetFile {
    file_name: "tinyshakespeare.txt",
    url: "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    gzip: false,
    sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
};

/// The UCI optical handwritten digits (1 797 rows of 64 pixels 0..16, then the label),
/// as shipped with scikit-learn.
pub const DIGITS: DatasetFile = DatasetFile {
    file_name: "digits.csv",
    url: "https://raw.githubusercontent.com/scikit-learn/scikit-learn/main/sklearn/datasets/data/digits.csv.gz",
    gzip: true,
    sha256: "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8",
};

/// The directory named by `AIGC_DATA`, if set.
pub fn data_dir() -> Option<PathBuf> {
    std::env::var_os("AIGC_DATA").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The download cache directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AIGC_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("aigc");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("aigc")
}

/// The SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The local path of `dataset`, downloading it into the cache if needed.
///
/// With `AIGC_DATA` set, the file must be there: nothing is downloaded.
pub fn fetch(dataset: &DatasetFile) -> Result<PathBuf> {
    if let Some(dir) = data_dir() {
        let path = dir.join(dataset.file_name);
        if path.is_file() {
            return Ok(path);
        }
        return Err(TrainError::invalid_file(
            &path,
            format!("not found; AIGC_DATA={} is set, so nothing is downloaded. Put {} there or unset AIGC_DATA", dir.display(), dataset.file_name),
        ));
    }
    let cached = cache_dir().join(dataset.file_name);
    if let Ok(bytes) = std::fs::read(&cached) {
        if sha256_hex(&bytes) == dataset.sha256 {
            return Ok(cached);
        }
    }
    let bytes = download(dataset)?;
    let actual = sha256_hex(&bytes);
    if actual != dataset.sha256 {
        return Err(TrainError::invalid_file(
            &cached,
            format!("download from {} has SHA-256 {actual}, expected {}; the source changed or the download was corrupted", dataset.url, dataset.sha256),
        ));
    }
    std::fs::create_dir_all(cache_dir()).map_err(|e| TrainError::io(cache_dir(), e))?;
    write_atomic(&cached, &bytes)?;
    Ok(cached)
}

fn download(dataset: &DatasetFile) -> Result<Vec<u8>> {
    let failed = |message: String| TrainError::invalid("download", format!("{}: {message}; set AIGC_DATA to a directory holding {} to work offline", dataset.url, dataset.file_name));
    let response = ureq::get(dataset.url).call().map_err(|e| failed(e.to_string()))?;
    let mut body = Vec::new();
    response.into_reader().take(256 << 20).read_to_end(&mut body).map_err(|e| failed(e.to_string()))?;
    if !dataset.gzip {
        return Ok(body);
    }
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice()).read_to_end(&mut unpacked).map_err(|e| failed(format!("gzip: {e}")))?;
    Ok(unpacked)
}

/// Reads the digits CSV: features (N, 64) scaled to [0, 1] and labels (N,).
pub fn load_digits(path: &Path) -> Result<(aigc_tensor::Tensor, aigc_tensor::Tensor)> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (line_number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let values: Vec<&str> = line.split(',').map(str::trim).collect();
        if values.len() != 65 {
            return Err(TrainError::invalid_file(path, format!("line {}: {} fields, expected 65 (64 pixels and a label)", line_number + 1, values.len())));
        }
        for (column, value) in values.iter().enumerate() {
            let number: f32 = value.parse().map_err(|_| {
                TrainError::invalid_file(path, format!("line {}, column {}: {value:?} is not a number", line_number + 1, column + 1))
            })?;
            if column < 64 {
                features.push(number / 16.0);
            } else {
                labels.push(number);
            }
        }
    }
    let n = labels.len();
    if n == 0 {
        return Err(TrainError::invalid_file(path, "no rows"));
    }
    Ok((aigc_tensor::Tensor::from_vec(features, &[n, 64])?, aigc_tensor::Tensor::from_vec(labels, &[n])?))
}
