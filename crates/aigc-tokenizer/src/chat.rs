//! Conversations and the chat template that turns them into token ids.
//!
//! A conversation renders as
//!
//! ```text
//! <|bos|> <|role|> content <|end|> <|role|> content <|end|> ...
//! ```
//!
//! where `<|role|>` is `<|system|>`, `<|user|>` or `<|assistant|>`. A prompt
//! for generation ends with `<|assistant|>`, and the model is expected to
//! write the reply and close it with `<|end|>`.

use std::fmt;

use crate::bpe::Tokenizer;
use crate::error::TokenizerError;
use crate::special::SpecialToken;

/// The author of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person chatting.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// All roles, in the order error messages list them.
    pub const ALL: [Role; 3] = [Role::System, Role::User, Role::Assistant];

    /// Returns the role's name as chat data files write it: `"system"`, `"user"`
    /// or `"assistant"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    /// Parses a role name as written in chat data files. The match is exact.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Returns the special token that opens a message of this role.
    pub fn special_token(self) -> SpecialToken {
        match self {
            Role::System => SpecialToken::System,
            Role::User => SpecialToken::User,
            Role::Assistant => SpecialToken::Assistant,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The author of the message.
    pub role: Role,
    /// The message text.
    pub content: String,
}

impl Message {
    /// Creates a message.
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// The messages of one conversation, in order.
pub type Conversation = Vec<Message>;

/// Renders conversations into token ids with a tokenizer's special tokens.
///
/// ```
/// use aigc_tokenizer::{ChatTemplate, Message, Role, Tokenizer};
///
/// let tokenizer = Tokenizer::byte_level();
/// let template = ChatTemplate::new(&tokenizer);
/// let conversation = [Message::new(Role::User, "hi"), Message::new(Role::Assistant, "yo")];
///
/// let (ids, loss_mask) = template.render_for_training(&conversation)?;
/// assert_eq!(tokenizer.decode(&ids)?, "<|bos|><|user|>hi<|end|><|assistant|>yo<|end|>");
/// // Only the reply "yo" and its closing <|end|> are learned.
/// let learned: Vec<u32> = ids.iter().zip(&loss_mask).filter(|(_, &m)| m).map(|(&id, _)| id).collect();
/// assert_eq!(tokenizer.decode(&learned)?, "yo<|end|>");
/// # Ok::<(), aigc_tokenizer::TokenizerError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ChatTemplate<'a> {
    tokenizer: &'a Tokenizer,
}

impl<'a> ChatTemplate<'a> {
    /// Creates a template that uses `tokenizer`'s special token ids.
    pub fn new(tokenizer: &'a Tokenizer) -> ChatTemplate<'a> {
        ChatTemplate { tokenizer }
    }

    /// Renders a whole conversation: `<|bos|>`, then each message as
    /// `<|role|>` content `<|end|>`.
    ///
    /// # Errors
    /// Returns an error only if encoding a message fails.
    pub fn render(&self, messages: &[Message]) -> Result<Vec<u32>, TokenizerError> {
        let (ids, _) = self.render_for_training(messages)?;
        Ok(ids)
    }

    /// Renders a conversation as a prompt for the next assistant reply: the
    /// messages as [`render`](Self::render) writes them, then `<|assistant|>`.
    ///
    /// # Errors
    /// Returns an error only if encoding a message fails.
    pub fn render_prompt(&self, messages: &[Message]) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = self.render(messages)?;
        ids.push(self.tokenizer.assistant_id());
        Ok(ids)
    }

    /// Renders a conversation for training and returns `(ids, loss_mask)`.
    ///
    /// `ids` is what [`render`](Self::render) returns. `loss_mask[i]` is true
    /// when `ids[i]` is part of an assistant reply, content or closing
    /// `<|end|>`, so the model learns to write replies and to stop. Every
    /// other token is context only. For next-token prediction, where the
    /// input at position `t` predicts `ids[t + 1]`, weight the loss at `t`
    /// by `loss_mask[t + 1]`.
    ///
    /// # Errors
    /// Returns an error only if encoding a message fails.
    pub fn render_for_training(
        &self,
        messages: &[Message],
    ) -> Result<(Vec<u32>, Vec<bool>), TokenizerError> {
        let mut ids = vec![self.tokenizer.bos_id()];
        let mut loss_mask = vec![false];
        for message in messages {
            let learned = message.role == Role::Assistant;
            let content = self.tokenizer.encode(&message.content)?;

            ids.push(self.tokenizer.special_id(message.role.special_token()));
            loss_mask.push(false);
            loss_mask.extend(std::iter::repeat(learned).take(content.len() + 1));
            ids.extend(content);
            ids.push(self.tokenizer.end_id());
        }
        Ok((ids, loss_mask))
    }
}
