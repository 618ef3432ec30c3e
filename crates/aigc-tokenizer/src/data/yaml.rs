//! The chatterbot YAML dialogue corpus.
//!
//! A file looks like
//!
//! ```yaml
//! categories:
//! - greetings
//! conversations:
//! - - Hello
//!   - Hi there!
//!   - How are you?
//!   - Fine, thanks.
//! ```
//!
//! Turns alternate user, assistant, starting with the user. Scalars are read
//! as written, so an unquoted `007` or `true` stays that text, and block
//! scalars (`|`) keep their newlines. In chatterbot-corpus 1.3.3 one trivia
//! entry lacks its inner `- `, which makes the conversation a single string.
//! Such a conversation is skipped.

use std::path::Path;

use saphyr::{MarkedYaml, ScalarStyle, YamlData, YamlLoader};
use saphyr_parser::{Parser, ScanError};

use super::{strip_bom, LoadedConversations};
use crate::chat::{Conversation, Message, Role};
use crate::error::{DataError, Location};

/// The maximum length, in characters, of a scalar excerpt quoted in an error message.
const EXCERPT_CHARS: usize = 60;

/// Parses a chatterbot YAML file's text. `path` is used only in error
/// messages.
///
/// # Errors
/// Returns [`DataError::MalformedYaml`] for invalid YAML,
/// [`DataError::InvalidStructure`] when the top level is not a mapping with
/// a `conversations` list, [`DataError::EmptyFile`] when the list is empty or
/// missing its items, and the first skipped conversation's error when none
/// is usable.
pub fn parse_chatterbot_yaml(text: &str, path: &Path) -> Result<LoadedConversations, DataError> {
    let documents = load_documents(strip_bom(text), path)?;
    let structure_error = |message: String| DataError::InvalidStructure {
        path: path.to_path_buf(),
        location: Location::File,
        message,
    };

    let root = match documents.as_slice() {
        [] => {
            return Err(DataError::EmptyFile {
                path: path.to_path_buf(),
            })
        }
        [root] => untag(root),
        more => {
            return Err(structure_error(format!(
                "expected one YAML document, found {}",
                more.len()
            )))
        }
    };

    let YamlData::Mapping(mapping) = &root.data else {
        return Err(structure_error(format!(
            "expected a mapping with a `conversations` list at the top level, found {}",
            kind(root)
        )));
    };
    let conversations = mapping
        .iter()
        .find(|(key, _)| scalar_text(key) == Some("conversations"))
        .map(|(_, value)| untag(value))
        .ok_or_else(|| structure_error("missing the `conversations` list".into()))?;
    let items = match &conversations.data {
        YamlData::Sequence(items) => items.as_slice(),
        _ if is_null(conversations) => &[],
        _ => {
            return Err(structure_error(format!(
                "`conversations` must be a list, found {}",
                kind(conversations)
            )))
        }
    };

    let mut loaded = LoadedConversations::default();
    for (index, item) in items.iter().enumerate() {
        let location = Location::Conversation {
            number: index + 1,
            line: item.span.start.line(),
        };
        match conversation_from_yaml(item, path, location) {
            Ok(conversation) => loaded.conversations.push(conversation),
            Err(err) => loaded.skipped.push(err),
        }
    }
    loaded.finish_file(items.len(), path)
}

/// Parses YAML text into documents whose scalars keep their text as written.
fn load_documents<'input>(
    text: &'input str,
    path: &Path,
) -> Result<Vec<MarkedYaml<'input>>, DataError> {
    let malformed = |err: &ScanError| DataError::MalformedYaml {
        path: path.to_path_buf(),
        line: err.marker().line(),
        column: err.marker().col() + 1,
        message: err.info().to_string(),
    };

    let mut loader: YamlLoader<'input, MarkedYaml<'input>> = YamlLoader::default();
    loader.early_parse(false);
    Parser::new_from_str(text)
        .load(&mut loader, true)
        .map_err(|err| malformed(&err))?;
    if let Some(err) = loader.error() {
        return Err(malformed(err));
    }
    Ok(loader.into_documents())
}

fn conversation_from_yaml(
    item: &MarkedYaml<'_>,
    path: &Path,
    location: Location,
) -> Result<Conversation, DataError> {
    let structure_error = |message: String| DataError::InvalidStructure {
        path: path.to_path_buf(),
        location,
        message,
    };

    let item = untag(item);
    let turns = match &item.data {
        YamlData::Sequence(turns) => turns,
        _ => {
            let found = match scalar_text(item) {
                Some(text) => format!("the text {:?}", excerpt(text)),
                None => kind(item).to_string(),
            };
            return Err(structure_error(format!(
                "expected a list of turns, found {found}"
            )));
        }
    };

    let mut conversation = Conversation::with_capacity(turns.len());
    for (index, turn) in turns.iter().enumerate() {
        let number = index + 1;
        let turn = untag(turn);
        let content = match scalar_text(turn) {
            Some(text) if !is_null(turn) && !text.trim().is_empty() => text,
            Some(_) => {
                return Err(DataError::EmptyContent {
                    path: path.to_path_buf(),
                    location,
                    message: number,
                })
            }
            None => {
                return Err(structure_error(format!(
                    "turn {number} must be text, found {}",
                    kind(turn)
                )))
            }
        };
        let role = if index % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        conversation.push(Message::new(role, content));
    }

    if conversation.len() < 2 {
        return Err(DataError::NoAssistantTurn {
            path: path.to_path_buf(),
            location,
        });
    }
    Ok(conversation)
}

/// Returns the node inside any tags, such as `!!str`.
fn untag<'a, 'input>(node: &'a MarkedYaml<'input>) -> &'a MarkedYaml<'input> {
    match &node.data {
        YamlData::Tagged(_, inner) => untag(inner),
        _ => node,
    }
}

/// Returns a scalar's text as written, or `None` for collections and aliases.
fn scalar_text<'a>(node: &'a MarkedYaml<'_>) -> Option<&'a str> {
    match &node.data {
        YamlData::Representation(text, _, _) => Some(text),
        YamlData::Tagged(_, inner) => scalar_text(inner),
        _ => None,
    }
}

/// Returns whether a node is a plain null under the YAML 1.2 core schema:
/// empty, `~` or `null`.
fn is_null(node: &MarkedYaml<'_>) -> bool {
    match &node.data {
        YamlData::Representation(text, ScalarStyle::Plain, _) => {
            matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// Names a YAML node's kind for error messages.
fn kind(node: &MarkedYaml<'_>) -> &'static str {
    match &node.data {
        YamlData::Sequence(_) => "a list",
        YamlData::Mapping(_) => "a mapping",
        YamlData::Alias(_) => "an alias",
        _ if is_null(node) => "null",
        _ => "a scalar",
    }
}

/// Returns the first [`EXCERPT_CHARS`] characters of `text`, with "..." when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}
