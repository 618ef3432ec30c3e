//! OpenAI-style chat JSONL: one `{"messages": [...]}` object per line.

use std::path::Path;

use serde_json::Value;

use super::{strip_bom, LoadedConversations};
use crate::chat::{Conversation, Message, Role};
use crate::error::{DataError, Location};

/// Parses chat JSONL text. `path` is used only in error messages.
///
/// Keys other than `messages`, `role` and `content` are ignored. A `null`
/// content counts as empty.
///
/// # Errors
/// Returns [`DataError::MalformedJson`] for a line that is not JSON,
/// [`DataError::EmptyFile`] when no line contains a record, and the first
/// skipped conversation's error when none is usable.
pub fn parse_jsonl(text: &str, path: &Path) -> Result<LoadedConversations, DataError> {
    let mut loaded = LoadedConversations::default();
    let mut records = 0;

    for (index, line) in strip_bom(text).lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        records += 1;

        let record: Value = serde_json::from_str(line).map_err(|err| DataError::MalformedJson {
            path: path.to_path_buf(),
            line: line_number,
            column: err.column(),
            message: message_without_position(&err),
        })?;
        match conversation_from_record(&record) {
            Ok(conversation) => loaded.conversations.push(conversation),
            Err(problem) => loaded.skipped.push(problem.into_error(path, line_number)),
        }
    }

    loaded.finish_file(records, path)
}

/// A problem with one record, before the file and line are attached.
enum Problem {
    UnknownRole { message: usize, role: String },
    EmptyContent { message: usize },
    NoAssistantTurn,
    Structure(String),
}

impl Problem {
    fn into_error(self, path: &Path, line: usize) -> DataError {
        let path = path.to_path_buf();
        let location = Location::Line(line);
        match self {
            Problem::UnknownRole { message, role } => DataError::UnknownRole {
                path,
                location,
                message,
                role,
            },
            Problem::EmptyContent { message } => DataError::EmptyContent {
                path,
                location,
                message,
            },
            Problem::NoAssistantTurn => DataError::NoAssistantTurn { path, location },
            Problem::Structure(message) => DataError::InvalidStructure {
                path,
                location,
                message,
            },
        }
    }
}

fn conversation_from_record(record: &Value) -> Result<Conversation, Problem> {
    let messages = match record.get("messages") {
        Some(Value::Array(messages)) => messages,
        Some(other) => {
            return Err(Problem::Structure(format!(
                "\"messages\" must be an array, found {}",
                kind(other)
            )))
        }
        None => {
            return Err(Problem::Structure(format!(
                "expected an object with a \"messages\" array, found {}",
                if record.is_object() {
                    "an object without one"
                } else {
                    kind(record)
                }
            )))
        }
    };

    let mut conversation = Conversation::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        conversation.push(message_from_json(message, index + 1)?);
    }
    if !conversation.iter().any(|m| m.role == Role::Assistant) {
        return Err(Problem::NoAssistantTurn);
    }
    Ok(conversation)
}

/// Parses message number `number` (from 1) of a record.
fn message_from_json(message: &Value, number: usize) -> Result<Message, Problem> {
    if !message.is_object() {
        return Err(Problem::Structure(format!(
            "message {number} must be an object with \"role\" and \"content\", found {}",
            kind(message)
        )));
    }

    let role = match message.get("role") {
        Some(Value::String(name)) => Role::from_name(name).ok_or_else(|| Problem::UnknownRole {
            message: number,
            role: name.clone(),
        })?,
        Some(other) => {
            return Err(Problem::Structure(format!(
                "message {number}: \"role\" must be a string, found {}",
                kind(other)
            )))
        }
        None => {
            return Err(Problem::Structure(format!(
                "message {number} has no \"role\""
            )))
        }
    };

    let content = match message.get("content") {
        Some(Value::String(text)) if !text.trim().is_empty() => text.clone(),
        Some(Value::String(_)) | Some(Value::Null) => {
            return Err(Problem::EmptyContent { message: number })
        }
        Some(other) => {
            return Err(Problem::Structure(format!(
                "message {number}: \"content\" must be a string, found {}",
                kind(other)
            )))
        }
        None => {
            return Err(Problem::Structure(format!(
                "message {number} has no \"content\""
            )))
        }
    };

    Ok(Message { role, content })
}

/// Names a JSON value's type for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Returns a `serde_json` error message without its " at line L column C"
/// suffix, since each JSONL line is parsed on its own and the caller reports
/// the file's line.
fn message_without_position(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}
