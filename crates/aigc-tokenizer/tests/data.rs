//! Conversation loaders: JSONL, chatterbot YAML, folders, the real corpus and
//! every error message.

mod common;

use std::path::Path;

use aigc_tokenizer::data::{parse_chatterbot_yaml, parse_jsonl};
use aigc_tokenizer::{load_conversations, DataError, Location, Message, Role};
use common::{data_dir, fixture};
use proptest::prelude::*;

/// Loads a fixture that must fail and returns the error message.
fn load_error(name: &str) -> String {
    match load_conversations(fixture(name)) {
        Ok(loaded) => panic!("{name} loaded {} conversations", loaded.conversations.len()),
        Err(err) => err.to_string(),
    }
}

fn shown(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn jsonl_conversations() {
    let loaded = load_conversations(fixture("chat.jsonl")).unwrap();
    assert!(loaded.skipped.is_empty());
    assert_eq!(
        loaded.conversations,
        [
            vec![
                Message::new(Role::System, "You are a helpful assistant."),
                Message::new(Role::User, "What is 2 + 2?"),
                Message::new(Role::Assistant, "4"),
            ],
            vec![
                Message::new(Role::User, "你好"),
                Message::new(Role::Assistant, "你好！有什么可以帮你？"),
                Message::new(Role::User, "Say <|end|> please"),
                Message::new(Role::Assistant, "<|end|>"),
            ],
        ]
    );
}

#[test]
fn jsonl_malformed_line() {
    assert_eq!(
        load_error("malformed.jsonl"),
        format!(
            "{}, line 2: malformed JSON at column 48: EOF while parsing a value",
            shown("malformed.jsonl")
        )
    );
}

#[test]
fn jsonl_unknown_role() {
    assert_eq!(
        load_error("unknown_role.jsonl"),
        format!(
            "{}, line 1: unknown role \"bot\" in message 2; valid roles are \"system\", \"user\" and \"assistant\"",
            shown("unknown_role.jsonl")
        )
    );
}

#[test]
fn jsonl_no_assistant_turn() {
    assert_eq!(
        load_error("no_assistant.jsonl"),
        format!(
            "{}, line 1: conversation has no assistant turn",
            shown("no_assistant.jsonl")
        )
    );
}

#[test]
fn jsonl_empty_content() {
    assert_eq!(
        load_error("empty_content.jsonl"),
        format!(
            "{}, line 1: message 2 has empty content",
            shown("empty_content.jsonl")
        )
    );
}

#[test]
fn jsonl_empty_file() {
    let expected = |name| format!("{}: file has no conversations", shown(name));
    assert_eq!(load_error("empty.jsonl"), expected("empty.jsonl"));
    assert_eq!(
        load_error("blank_lines.jsonl"),
        expected("blank_lines.jsonl")
    );
}

#[test]
fn jsonl_wrong_schema() {
    assert_eq!(
        load_error("not_messages.jsonl"),
        format!(
            "{}, line 1: expected an object with a \"messages\" array, found an object without one",
            shown("not_messages.jsonl")
        )
    );
}

#[test]
fn jsonl_bad_record_is_skipped() {
    let loaded = load_conversations(fixture("one_bad_record.jsonl")).unwrap();
    assert_eq!(loaded.conversations.len(), 2);
    assert_eq!(loaded.conversations[1][0].content, "bye");
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(
        loaded.skipped[0].to_string(),
        format!(
            "{}, line 2: unknown role \"human\" in message 1; valid roles are \"system\", \"user\" and \"assistant\"",
            shown("one_bad_record.jsonl")
        )
    );
}

#[test]
fn jsonl_structure_errors() {
    let path = Path::new("inline.jsonl");
    let cases = [
        (
            r#"[1, 2]"#,
            "expected an object with a \"messages\" array, found an array",
        ),
        (
            r#"{"messages": "hi"}"#,
            "\"messages\" must be an array, found a string",
        ),
        (
            r#"{"messages": [42]}"#,
            "message 1 must be an object with \"role\" and \"content\", found a number",
        ),
        (
            r#"{"messages": [{"content": "hi"}]}"#,
            "message 1 has no \"role\"",
        ),
        (
            r#"{"messages": [{"role": 1, "content": "hi"}]}"#,
            "message 1: \"role\" must be a string, found a number",
        ),
        (
            r#"{"messages": [{"role": "user"}]}"#,
            "message 1 has no \"content\"",
        ),
        (
            r#"{"messages": [{"role": "user", "content": [{"type": "text"}]}]}"#,
            "message 1: \"content\" must be a string, found an array",
        ),
        (
            r#"{"messages": [{"role": "user", "content": null}]}"#,
            "message 1 has empty content",
        ),
        (r#"{"messages": []}"#, "conversation has no assistant turn"),
    ];
    for (line, message) in cases {
        let err = parse_jsonl(line, path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("inline.jsonl, line 1: {message}"),
            "input {line}"
        );
    }
}

#[test]
fn jsonl_windows_line_endings_and_bom() {
    let text = "\u{feff}{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}\r\n\r\n";
    let loaded = parse_jsonl(text, Path::new("bom.jsonl")).unwrap();
    assert_eq!(loaded.conversations.len(), 1);
    assert_eq!(loaded.conversations[0][1].content, "b");
}

#[test]
fn yaml_conversations() {
    let loaded = load_conversations(fixture("dialogue.yml")).unwrap();
    assert!(loaded.skipped.is_empty());
    let conversations = &loaded.conversations;
    assert_eq!(conversations.len(), 6);

    let roles: Vec<Role> = conversations[0].iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    assert_eq!(conversations[0][3].content, "Fine, thanks.");
    assert_eq!(conversations[1][1].content, "你好！");
    // Unquoted scalars keep their text as written.
    assert_eq!(conversations[2][1].content, "1984");
    assert_eq!(conversations[3][1].content, "007");
    assert_eq!(conversations[4][1].content, "true");
    // A literal block keeps its newlines.
    assert_eq!(
        conversations[5][1].content,
        "Here is one:\n\n```\nfor i in range(3):\n    print(i)\n```\n"
    );
}

#[test]
fn yaml_scalar_conversation_is_skipped() {
    let loaded = load_conversations(fixture("scalar_conversation.yml")).unwrap();
    assert_eq!(loaded.conversations.len(), 2);
    assert_eq!(loaded.conversations[1][1].content, "Paris");
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(
        loaded.skipped[0].to_string(),
        format!(
            "{}, conversation 2 (line 6): expected a list of turns, found the text \"In a game of bingo, which number is represented by the phras...\"",
            shown("scalar_conversation.yml")
        )
    );
}

#[test]
fn yaml_single_turn_has_no_assistant() {
    assert_eq!(
        load_error("single_turn.yml"),
        format!(
            "{}, conversation 1 (line 4): conversation has no assistant turn",
            shown("single_turn.yml")
        )
    );
}

#[test]
fn yaml_empty_turn() {
    assert_eq!(
        load_error("empty_turn.yml"),
        format!(
            "{}, conversation 1 (line 2): message 2 has empty content",
            shown("empty_turn.yml")
        )
    );
}

#[test]
fn yaml_nested_turn() {
    assert_eq!(
        load_error("nested_turn.yml"),
        format!(
            "{}, conversation 1 (line 2): turn 2 must be text, found a list",
            shown("nested_turn.yml")
        )
    );
}

#[test]
fn yaml_malformed() {
    assert_eq!(
        load_error("malformed.yml"),
        format!(
            "{}, line 2: malformed YAML at column 5: while scanning a quoted scalar, found unexpected end of stream",
            shown("malformed.yml")
        )
    );
}

#[test]
fn yaml_empty_file() {
    let expected = |name| format!("{}: file has no conversations", shown(name));
    assert_eq!(load_error("empty.yml"), expected("empty.yml"));
    assert_eq!(
        load_error("empty_conversations.yml"),
        expected("empty_conversations.yml")
    );
}

#[test]
fn yaml_missing_conversations() {
    assert_eq!(
        load_error("no_conversations.yml"),
        format!(
            "{}, file: missing the `conversations` list",
            shown("no_conversations.yml")
        )
    );
}

#[test]
fn yaml_list_at_top_level() {
    assert_eq!(
        load_error("list_root.yaml"),
        format!(
            "{}, file: expected a mapping with a `conversations` list at the top level, found a list",
            shown("list_root.yaml")
        )
    );
}

#[test]
fn yaml_invalid_utf8() {
    assert_eq!(
        load_error("latin1.yml"),
        format!("{}, line 2: invalid UTF-8", shown("latin1.yml"))
    );
}

#[test]
fn yaml_multiple_documents() {
    let text = "conversations:\n- - a\n  - b\n---\nconversations:\n- - c\n  - d\n";
    let err = parse_chatterbot_yaml(text, Path::new("two.yml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "two.yml, file: expected one YAML document, found 2"
    );
}

#[test]
fn folder_loads_sorted_and_recursive() {
    let loaded = load_conversations(fixture("folder")).unwrap();
    let first_turns: Vec<&str> = loaded
        .conversations
        .iter()
        .map(|c| c[0].content.as_str())
        .collect();
    assert_eq!(
        first_turns,
        ["from a.jsonl", "from b.yml", "from sub/c.yaml"]
    );
}

#[test]
fn folder_without_data_files() {
    assert_eq!(
        load_error("no_data"),
        format!(
            "{}: no .jsonl, .yml or .yaml files in this folder or its subfolders",
            shown("no_data")
        )
    );
}

#[test]
fn unsupported_extension() {
    assert_eq!(
        load_error("folder/notes.txt"),
        format!(
            "{}: unsupported file extension; expected .jsonl, .yml or .yaml",
            shown("folder/notes.txt")
        )
    );
}

#[test]
fn missing_path() {
    let message = load_error("missing.jsonl");
    assert!(
        message.starts_with(&format!("failed to read {}: ", shown("missing.jsonl"))),
        "{message}"
    );
}

#[test]
fn error_locations_are_structured() {
    let err = load_conversations(fixture("single_turn.yml")).unwrap_err();
    match err {
        DataError::NoAssistantTurn { location, .. } => {
            assert_eq!(location, Location::Conversation { number: 1, line: 4 });
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn chatterbot_corpus_loads() {
    let dir = data_dir().join("chatterbot");
    let loaded = load_conversations(&dir).unwrap();
    // chatterbot-corpus 1.3.3 has 2493 entries under `conversations`, one of them malformed.
    assert_eq!(loaded.conversations.len(), 2492);

    // One trivia entry lacks its `- ` and parses as a single string.
    let skipped: Vec<String> = loaded.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert!(
        skipped[0]
            .contains("english/trivia.yml, conversation 14 (line 35): expected a list of turns"),
        "{}",
        skipped[0]
    );

    for conversation in &loaded.conversations {
        assert!(conversation.len() >= 2);
        assert_eq!(conversation[0].role, Role::User);
        assert_eq!(conversation[1].role, Role::Assistant);
        assert!(conversation.iter().all(|m| !m.content.trim().is_empty()));
    }
    let chinese = loaded
        .conversations
        .iter()
        .any(|c| c[0].content == "什么是ai");
    assert!(chinese, "the Chinese files were not loaded");
    let multi_line = loaded.conversations.iter().any(|c| {
        c[1].content
            .starts_with("Sure. Here's quicksort in Python:\n")
    });
    assert!(
        multi_line,
        "the multi-line answers in coding.yml were not loaded"
    );
}

#[test]
fn chatterbot_files_load_one_by_one() {
    let dir = data_dir().join("chatterbot");
    for language in ["english", "chinese"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(language))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty());
        for file in files {
            let loaded = load_conversations(&file).unwrap_or_else(|err| panic!("{err}"));
            assert!(!loaded.conversations.is_empty(), "{}", file.display());
        }
    }
}

proptest! {
    #[test]
    fn jsonl_parser_never_panics(text in any::<String>()) {
        let _ = parse_jsonl(&text, Path::new("fuzz.jsonl"));
    }

    #[test]
    fn yaml_parser_never_panics(text in any::<String>()) {
        let _ = parse_chatterbot_yaml(&text, Path::new("fuzz.yml"));
    }

    #[test]
    fn yaml_parser_never_panics_on_yaml_like_text(text in "[-:|>'\"\\[\\]{}!&*#a\n ]{0,60}") {
        let _ = parse_chatterbot_yaml(&text, Path::new("fuzz.yml"));
    }
}
