//! Error types: [`TokenizerError`] for the tokenizer, [`DataError`] for the
//! conversation loaders.

use std::fmt;
use std::path::PathBuf;

/// An error from training, loading, saving or running a [`Tokenizer`](crate::Tokenizer).
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A token id is not in the vocabulary.
    #[error("token id {id} is out of range for a vocabulary of {vocab_size} tokens (valid ids are 0..{vocab_size})")]
    UnknownId {
        /// The id that was looked up.
        id: u32,
        /// The number of tokens in the vocabulary.
        vocab_size: usize,
    },

    /// The requested vocabulary cannot hold the byte tokens and special tokens.
    #[error("vocabulary size {requested} is too small: byte-level BPE needs at least {minimum} tokens (256 bytes and the special tokens)")]
    VocabSizeTooSmall {
        /// The vocabulary size the caller asked for.
        requested: usize,
        /// The number of byte tokens plus special tokens.
        minimum: usize,
    },

    /// Reading a training corpus file failed.
    #[error("failed to read corpus file {}: {source}", path.display())]
    ReadCorpus {
        /// The corpus file.
        path: PathBuf,
        /// The underlying I/O error. Invalid UTF-8 is reported as `InvalidData`.
        source: std::io::Error,
    },

    /// Reading or writing a `tokenizer.json` file failed.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        /// The failed operation: "read", "write" or "rename".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A `tokenizer.json` file could not be parsed.
    #[error("invalid tokenizer file {}: {source}", path.display())]
    Parse {
        /// The file that failed to parse.
        path: PathBuf,
        /// The error from the `tokenizers` crate.
        source: tokenizers::Error,
    },

    /// A tokenizer does not have the layout that byte-level BPE with aigc's
    /// special tokens needs.
    #[error("unsupported tokenizer: {0}")]
    Unsupported(String),

    /// The `tokenizers` crate failed while training, encoding or serializing.
    #[error("{action} failed: {source}")]
    Backend {
        /// The failed operation: "training", "encoding" or "serializing".
        action: &'static str,
        /// The error from the `tokenizers` crate.
        source: tokenizers::Error,
    },
}

/// The position of a problem in a data file.
///
/// Lines and conversations count from 1, as editors show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The whole file.
    File,
    /// A line of a JSONL file, which contains one conversation.
    Line(usize),
    /// A conversation in a YAML file and the line it starts on.
    Conversation {
        /// The conversation's position in the `conversations` list, from 1.
        number: usize,
        /// The line the conversation starts on, from 1.
        line: usize,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("file"),
            Location::Line(line) => write!(f, "line {line}"),
            Location::Conversation { number, line } => {
                write!(f, "conversation {number} (line {line})")
            }
        }
    }
}

/// An error from loading conversation data.
///
/// Every variant names the file, and the ones about a single record also carry its
/// [`Location`].
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading a file or folder failed.
    #[error("failed to read {}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A file's extension names no supported format.
    #[error("{}: unsupported file extension; expected .jsonl, .yml or .yaml", path.display())]
    UnsupportedExtension {
        /// The file.
        path: PathBuf,
    },

    /// A folder contains no data file.
    #[error("{}: no .jsonl, .yml or .yaml files in this folder or its subfolders", path.display())]
    NoDataFiles {
        /// The folder.
        path: PathBuf,
    },

    /// A file contains no conversation because it is empty, has only blank
    /// lines, or has an empty `conversations` list.
    #[error("{}: file has no conversations", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },

    /// A file is not valid UTF-8.
    #[error("{}, {location}: invalid UTF-8", path.display())]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// The first line with invalid bytes, or the whole file.
        location: Location,
    },

    /// A JSONL line is not valid JSON.
    #[error("{}, line {line}: malformed JSON at column {column}: {message}", path.display())]
    MalformedJson {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The column within the line, from 1.
        column: usize,
        /// The JSON parser's description of the error.
        message: String,
    },

    /// A YAML file is not valid YAML.
    #[error("{}, line {line}: malformed YAML at column {column}: {message}", path.display())]
    MalformedYaml {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The column, from 1.
        column: usize,
        /// The YAML parser's description of the error.
        message: String,
    },

    /// A message names a role other than system, user or assistant.
    #[error("{}, {location}: unknown role {role:?} in message {message}; valid roles are \"system\", \"user\" and \"assistant\"", path.display())]
    UnknownRole {
        /// The file.
        path: PathBuf,
        /// The conversation.
        location: Location,
        /// The message's position in the conversation, from 1.
        message: usize,
        /// The role as written in the file.
        role: String,
    },

    /// A message's content is empty or only whitespace.
    #[error("{}, {location}: message {message} has empty content", path.display())]
    EmptyContent {
        /// The file.
        path: PathBuf,
        /// The conversation.
        location: Location,
        /// The message's position in the conversation, from 1.
        message: usize,
    },

    /// A conversation has no assistant message, so there is nothing to learn from it.
    #[error("{}, {location}: conversation has no assistant turn", path.display())]
    NoAssistantTurn {
        /// The file.
        path: PathBuf,
        /// The conversation.
        location: Location,
    },

    /// A record or the whole file does not have the expected structure.
    #[error("{}, {location}: {message}", path.display())]
    InvalidStructure {
        /// The file.
        path: PathBuf,
        /// The record, or [`Location::File`] for the file's top level.
        location: Location,
        /// The expected structure and what the file contains instead.
        message: String,
    },
}
