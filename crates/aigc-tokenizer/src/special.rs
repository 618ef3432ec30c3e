//! The reserved tokens of the chat format.

/// A reserved token of the chat format.
///
/// Special tokens enter a token sequence only through [`ChatTemplate`](crate::ChatTemplate)
/// or by id. [`Tokenizer::encode`](crate::Tokenizer::encode) never returns them, so text
/// that contains `<|user|>` cannot pose as a new user turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialToken {
    /// `<|bos|>`: the start of a sequence.
    Bos,
    /// `<|user|>`: starts a user message.
    User,
    /// `<|assistant|>`: starts an assistant message.
    Assistant,
    /// `<|system|>`: starts a system message.
    System,
    /// `<|end|>`: closes any message.
    End,
    /// `<|pad|>`: fills batches to a common length.
    Pad,
}

impl SpecialToken {
    /// All special tokens, in the order of their ids in a newly built or trained tokenizer.
    pub const ALL: [SpecialToken; 6] = [
        SpecialToken::Bos,
        SpecialToken::User,
        SpecialToken::Assistant,
        SpecialToken::System,
        SpecialToken::End,
        SpecialToken::Pad,
    ];

    /// Returns the token's text as stored in `tokenizer.json`, such as `<|user|>`.
    pub fn content(self) -> &'static str {
        match self {
            SpecialToken::Bos => "<|bos|>",
            SpecialToken::User => "<|user|>",
            SpecialToken::Assistant => "<|assistant|>",
            SpecialToken::System => "<|system|>",
            SpecialToken::End => "<|end|>",
            SpecialToken::Pad => "<|pad|>",
        }
    }

    /// Returns the token's position in [`SpecialToken::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
