//! Loading chat conversations from data files.
//!
//! Two formats are read:
//!
//! * `.jsonl`: OpenAI-style chat records, one JSON object per line, each
//!   `{"messages": [{"role": "user", "content": "..."}, ...]}` with roles
//!   `system`, `user` and `assistant`. Blank lines are ignored.
//! * `.yml` / `.yaml`: the chatterbot dialogue corpus, a mapping with a
//!   `conversations` list in which each conversation is a list of turns that
//!   alternate user, assistant, user, ...
//!
//! Problems fall into two kinds. A file that cannot be read, is not valid
//! JSONL or YAML, has the wrong top-level structure or contains no conversation
//! is an error. A single conversation that parses but cannot be used (an
//! unknown role, empty content, no assistant turn, a wrong type) is skipped
//! and reported in [`LoadedConversations::skipped`], so that one bad record
//! does not block a large corpus. When a file yields no usable conversation
//! at all, its first problem is returned as the error.

mod jsonl;
mod yaml;

use std::fs;
use std::path::{Path, PathBuf};

use crate::chat::Conversation;
use crate::error::{DataError, Location};

pub use jsonl::parse_jsonl;
pub use yaml::parse_chatterbot_yaml;

/// Conversations read from one or more files, and the ones that were skipped.
#[derive(Debug, Default)]
pub struct LoadedConversations {
    /// The usable conversations, in file order.
    pub conversations: Vec<Conversation>,
    /// One error for each conversation that was left out, naming its file,
    /// location and problem.
    pub skipped: Vec<DataError>,
}

impl LoadedConversations {
    fn extend(&mut self, other: LoadedConversations) {
        self.conversations.extend(other.conversations);
        self.skipped.extend(other.skipped);
    }

    /// Applies the per-file rules: a file with no records is empty, and a file
    /// whose every record was skipped fails with its first problem.
    fn finish_file(mut self, records: usize, path: &Path) -> Result<Self, DataError> {
        if records == 0 {
            return Err(DataError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        if self.conversations.is_empty() {
            return Err(self.skipped.swap_remove(0));
        }
        Ok(self)
    }
}

/// The formats that [`load_conversations`] recognizes by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    ChatterbotYaml,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "jsonl" => Some(Format::Jsonl),
            "yml" | "yaml" => Some(Format::ChatterbotYaml),
            _ => None,
        }
    }
}

/// Loads conversations from a `.jsonl` file, a `.yml`/`.yaml` file, or a
/// folder.
///
/// A folder is searched recursively for files with those extensions, which
/// are read in sorted path order, so the result does not depend on the file
/// system. Other files in a folder are ignored.
///
/// # Errors
/// Returns a [`DataError`] when a file cannot be used. The error names the
/// file, and the line or conversation where one applies. The module
/// documentation says which problems skip a conversation instead.
pub fn load_conversations(path: impl AsRef<Path>) -> Result<LoadedConversations, DataError> {
    let path = path.as_ref();
    let metadata = fs::metadata(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;

    if !metadata.is_dir() {
        let format = Format::of(path).ok_or_else(|| DataError::UnsupportedExtension {
            path: path.to_path_buf(),
        })?;
        return load_file(path, format);
    }

    let mut files = Vec::new();
    collect_data_files(path, &mut files)?;
    if files.is_empty() {
        return Err(DataError::NoDataFiles {
            path: path.to_path_buf(),
        });
    }
    files.sort();

    let mut loaded = LoadedConversations::default();
    for file in &files {
        let format = Format::of(file).expect("collected files have a known extension");
        loaded.extend(load_file(file, format)?);
    }
    Ok(loaded)
}

/// Adds the data files under `dir` to `files`. Symbolic links to folders are
/// not followed, which rules out cycles.
fn collect_data_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Read { path, source }
    };

    for entry in fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(read_error(&path))?;
        if file_type.is_dir() {
            collect_data_files(&path, files)?;
        } else if Format::of(&path).is_some() && path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

fn load_file(path: &Path, format: Format) -> Result<LoadedConversations, DataError> {
    let bytes = fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        DataError::InvalidUtf8 {
            path: path.to_path_buf(),
            location: Location::Line(line),
        }
    })?;

    match format {
        Format::Jsonl => parse_jsonl(&text, path),
        Format::ChatterbotYaml => parse_chatterbot_yaml(&text, path),
    }
}

/// Strips a UTF-8 byte order mark, which some editors write at the start of a file.
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}
