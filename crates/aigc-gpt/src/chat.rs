//! Multi-turn chat with a GPT: [`ChatSession`] keeps the conversation,
//! renders it with the chat template, and streams each reply.
//!
//! Each call to [`ChatSession::send`] renders
//!
//! ```text
//! <|bos|> [<|system|> system <|end|>] (<|user|> u <|end|> <|assistant|> a <|end|>)* <|user|> message <|end|> <|assistant|>
//! ```
//!
//! and generates with the KV cache. Generation stops when the model writes
//! `<|end|>` (or any other special token), a stop string appears,
//! `max_tokens` are written or the context is full. The reply streams
//! through a [`StreamDecoder`], so the callback receives only whole UTF-8
//! characters.
//!
//! The rendered conversation plus [`ChatSession::reply_room`] tokens must fit
//! in `block_size`. When it does not, the oldest turns are dropped (the
//! system message stays) and the reply says how many. A new message that does
//! not fit even alone is an error.

use aigc_tensor::{Error, Result, Rng};
use aigc_tokenizer::{ChatTemplate, Message, Role, StreamDecoder, Tokenizer, TokenizerError};

use crate::model::{Gpt, DEFAULT_SEED};
use crate::sample::SamplingConfig;

/// Generation settings of a [`ChatSession`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOptions {
    /// The rule that picks each token. [`SamplingConfig::greedy`] reproduces
    /// what the model learnt most closely.
    pub sampling: SamplingConfig,
    /// Maximum number of tokens in one reply, `<|end|>` included. At least 1.
    pub max_tokens: usize,
    /// Strings that end a reply where they first appear; the reply excludes
    /// them. None may be empty.
    pub stop: Vec<String>,
    /// Seed of the sampling generator, set again by [`ChatSession::reset`]:
    /// the same seed and the same messages give the same replies.
    pub seed: u64,
}

impl Default for ChatOptions {
    /// [`SamplingConfig::default`] (temperature 0.8, top-k 200), 256 tokens,
    /// no stop strings, seed [`DEFAULT_SEED`].
    fn default() -> Self {
        ChatOptions { sampling: SamplingConfig::default(), max_tokens: 256, stop: Vec::new(), seed: DEFAULT_SEED }
    }
}

impl ChatOptions {
    /// Checks every field, naming the bad value.
    pub fn validate(&self) -> Result<()> {
        self.sampling.validate()?;
        if self.max_tokens == 0 {
            return Err(Error::invalid("chat", "max_tokens is 0; a reply needs at least 1 token"));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::invalid("chat", "a stop string is empty; it would end every reply before it starts"));
        }
        Ok(())
    }
}

/// One exchange of the conversation: a user message and the model's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// The user's message.
    pub user: String,
    /// The model's reply, as it was streamed.
    pub assistant: String,
}

/// The reason a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model wrote `<|end|>`, or another special token, which cannot be
    /// part of a reply.
    EndOfTurn,
    /// A stop string appeared; the reply stops before it.
    StopString,
    /// The reply reached `max_tokens`.
    MaxTokens,
    /// The prompt and the reply filled the model's `block_size`.
    ContextFull,
}

/// The result of [`ChatSession::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    /// The reply text: everything passed to the callback, in order.
    pub text: String,
    /// Tokens generated, including a closing special token.
    pub tokens: usize,
    /// The reason generation stopped.
    pub finish: FinishReason,
    /// Oldest turns removed from the history to fit the context.
    pub dropped_turns: usize,
    /// A sentence for the user when turns were dropped, such as
    /// "dropped 2 oldest turns to fit the 128-token context".
    pub notice: Option<String>,
}

/// The token ids [`ChatSession::send`] would feed the model for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPrompt {
    /// The rendered conversation, ending with `<|assistant|>`.
    pub ids: Vec<u32>,
    /// How many of the oldest turns had to be left out to fit the context.
    pub dropped_turns: usize,
}

/// A conversation with a GPT: an optional system message, the turns so far,
/// and the sampling state.
///
/// ```no_run
/// use aigc_gpt::{ChatOptions, ChatSession, Gpt, GptConfig, SamplingConfig};
/// use aigc_tokenizer::Tokenizer;
///
/// let tokenizer = Tokenizer::byte_level();
/// let model = Gpt::new(GptConfig::tiny().with_vocab_size(tokenizer.vocab_size()))?;
/// let options = ChatOptions { sampling: SamplingConfig::greedy(), ..ChatOptions::default() };
/// let mut chat = ChatSession::new(&model, &tokenizer, options)?;
/// let reply = chat.send("hello", |piece| print!("{piece}"))?;
/// println!("\n({} tokens, {:?})", reply.tokens, reply.finish);
/// # Ok::<(), aigc_tensor::Error>(())
/// ```
pub struct ChatSession<'a> {
    model: &'a Gpt,
    tokenizer: &'a Tokenizer,
    options: ChatOptions,
    system: Option<String>,
    turns: Vec<Turn>,
    rng: Rng,
}

impl<'a> ChatSession<'a> {
    /// Starts an empty conversation.
    ///
    /// Fails when the options are invalid or the tokenizer's vocabulary size
    /// differs from the model's `vocab_size`.
    pub fn new(model: &'a Gpt, tokenizer: &'a Tokenizer, options: ChatOptions) -> Result<ChatSession<'a>> {
        options.validate()?;
        if tokenizer.vocab_size() != model.config.vocab_size {
            return Err(Error::invalid(
                "chat",
                format!(
                    "the tokenizer has {} tokens but the model's vocab_size is {}; use the tokenizer the model was trained with",
                    tokenizer.vocab_size(),
                    model.config.vocab_size
                ),
            ));
        }
        let rng = Rng::seed(options.seed);
        Ok(ChatSession { model, tokenizer, options, system: None, turns: Vec::new(), rng })
    }

    /// Sets a system message, which frames every reply and is never dropped,
    /// and returns the session.
    pub fn with_system(mut self, system: impl Into<String>) -> Self {
        self.set_system(Some(system.into()));
        self
    }

    /// Sets or removes the system message.
    pub fn set_system(&mut self, system: Option<String>) {
        self.system = system;
    }

    /// Returns the system message, if any.
    pub fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    /// Returns the turns kept so far, oldest first.
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// Returns the model that writes the replies.
    pub fn model(&self) -> &'a Gpt {
        self.model
    }

    /// Returns the tokenizer of the model.
    pub fn tokenizer(&self) -> &'a Tokenizer {
        self.tokenizer
    }

    /// Returns the generation options.
    pub fn options(&self) -> &ChatOptions {
        &self.options
    }

    /// Forgets every turn and seeds the sampling generator again; the system
    /// message stays.
    pub fn reset(&mut self) {
        self.turns.clear();
        self.rng = Rng::seed(self.options.seed);
    }

    /// Tokens kept free for the reply when the history is fitted into the
    /// context: `max_tokens`, but at most half of `block_size`, so that a
    /// large `max_tokens` does not crowd out the conversation.
    pub fn reply_room(&self) -> usize {
        let block_size = self.model.config.block_size;
        self.options.max_tokens.min(block_size / 2).max(1)
    }

    /// Returns the history as messages, system message first.
    pub fn messages(&self) -> Vec<Message> {
        self.messages_with(0, None)
    }

    /// Lists the system message, the turns from `first_turn` on, and `user`
    /// as the last message when given.
    fn messages_with(&self, first_turn: usize, user: Option<&str>) -> Vec<Message> {
        let mut messages = Vec::with_capacity(2 * self.turns.len() + 2);
        if let Some(system) = &self.system {
            messages.push(Message::new(Role::System, system.as_str()));
        }
        for turn in &self.turns[first_turn..] {
            messages.push(Message::new(Role::User, turn.user.as_str()));
            messages.push(Message::new(Role::Assistant, turn.assistant.as_str()));
        }
        if let Some(user) = user {
            messages.push(Message::new(Role::User, user));
        }
        messages
    }

    /// Renders the prompt for `user` after the history, leaving out the
    /// fewest oldest turns that make it fit the context with
    /// [`reply_room`](Self::reply_room) tokens to spare.
    ///
    /// Fails when the message, with the system message, does not fit even
    /// without any history.
    pub fn prompt(&self, user: &str) -> Result<ChatPrompt> {
        let template = ChatTemplate::new(self.tokenizer);
        let block_size = self.model.config.block_size;
        let room = self.reply_room();
        let mut ids = Vec::new();
        for first_turn in 0..=self.turns.len() {
            ids = template.render_prompt(&self.messages_with(first_turn, Some(user))).map_err(tokenizer_error)?;
            if ids.len() + room <= block_size {
                return Ok(ChatPrompt { ids, dropped_turns: first_turn });
            }
        }

        let message_tokens = self.tokenizer.encode(user).map_err(tokenizer_error)?.len();
        let framing = if self.system.is_some() { "the system message and the chat template" } else { "the chat template" };
        Err(Error::invalid(
            "chat",
            format!(
                "the message is too long: it is {message_tokens} tokens, and with {framing} the prompt is {} tokens, \
                 but the model's context is {block_size} tokens and {room} must stay free for the reply; \
                 shorten the message (or the system message) or lower max_tokens",
                ids.len()
            ),
        ))
    }

    /// Sends a user message and generates the reply, calling `on_text` with
    /// each piece of text as soon as it is complete.
    ///
    /// On success the turn joins the history, and the oldest turns that no
    /// longer fit the context leave it (see [`ChatReply::dropped_turns`]). On
    /// error the history is unchanged.
    pub fn send(&mut self, user: &str, mut on_text: impl FnMut(&str)) -> Result<ChatReply> {
        let prompt = self.prompt(user)?;
        let block_size = self.model.config.block_size;
        let max_new = self.options.max_tokens.min(block_size - prompt.ids.len());

        let stop_ids: Vec<u32> = (0..self.tokenizer.vocab_size() as u32).filter(|&id| self.tokenizer.is_special(id)).collect();
        let mut decoder = self.tokenizer.stream_decoder();
        let mut stops = StopStrings::new(&self.options.stop);
        let mut finish = None;
        let mut decode_error = None;
        let generated = self.model.generate_stream(
            &prompt.ids,
            max_new,
            &self.options.sampling,
            &stop_ids,
            &mut self.rng,
            |id| {
                if stop_ids.contains(&id) {
                    finish = Some(FinishReason::EndOfTurn);
                    return false;
                }
                match push_token(&mut decoder, &mut stops, id, &mut on_text) {
                    Ok(true) => true,
                    Ok(false) => {
                        finish = Some(FinishReason::StopString);
                        false
                    }
                    Err(error) => {
                        decode_error = Some(error);
                        false
                    }
                }
            },
        )?;
        if let Some(error) = decode_error {
            return Err(tokenizer_error(error));
        }
        // Bytes of a character cut off by the end of generation come out as U+FFFD.
        let rest = decoder.finish();
        let finish = match finish {
            Some(FinishReason::StopString) => FinishReason::StopString,
            _ if !stops.push(&rest, &mut on_text) => FinishReason::StopString,
            Some(reason) => reason,
            None if generated.len() == self.options.max_tokens => FinishReason::MaxTokens,
            None => FinishReason::ContextFull,
        };
        stops.flush(&mut on_text);
        let text = stops.into_text();

        self.turns.drain(..prompt.dropped_turns);
        self.turns.push(Turn { user: user.to_string(), assistant: text.clone() });
        let notice = (prompt.dropped_turns > 0).then(|| {
            let turns = if prompt.dropped_turns == 1 { "turn" } else { "turns" };
            format!("dropped {} oldest {turns} to fit the {block_size}-token context", prompt.dropped_turns)
        });
        Ok(ChatReply { text, tokens: generated.len(), finish, dropped_turns: prompt.dropped_turns, notice })
    }
}

/// Decodes one generated token and passes its text on; returns `Ok(false)`
/// when a stop string appeared.
fn push_token(
    decoder: &mut StreamDecoder<'_>,
    stops: &mut StopStrings<'_>,
    id: u32,
    on_text: &mut impl FnMut(&str),
) -> std::result::Result<bool, TokenizerError> {
    let piece = decoder.push(id)?;
    Ok(stops.push(&piece, on_text))
}

fn tokenizer_error(error: TokenizerError) -> Error {
    Error::invalid("chat", error.to_string())
}

/// The reply text so far, passed on in pieces that can never turn out to be
/// the start of a stop string.
///
/// Text that could begin a stop string is held back until the next piece
/// shows whether it does. Because the longest such suffix is held back, a
/// stop string that completes later always starts at or after `emitted`.
struct StopStrings<'s> {
    stops: &'s [String],
    text: String,
    /// Bytes of `text` already passed on.
    emitted: usize,
}

impl<'s> StopStrings<'s> {
    fn new(stops: &'s [String]) -> Self {
        StopStrings { stops, text: String::new(), emitted: 0 }
    }

    /// Appends `piece` and passes on what is safe; returns `false` when a
    /// stop string appeared, after cutting the text before it.
    fn push(&mut self, piece: &str, on_text: &mut impl FnMut(&str)) -> bool {
        self.text.push_str(piece);
        let unsent = &self.text[self.emitted..];
        let first_stop = self.stops.iter().filter_map(|stop| unsent.find(stop.as_str())).min();
        if let Some(offset) = first_stop {
            self.text.truncate(self.emitted + offset);
            self.flush(on_text);
            return false;
        }

        let held = self.longest_stop_prefix_suffix();
        let safe_end = self.text.len() - held;
        if safe_end > self.emitted {
            on_text(&self.text[self.emitted..safe_end]);
            self.emitted = safe_end;
        }
        true
    }

    /// Length in bytes of the longest suffix of the unsent text that is a
    /// proper prefix of some stop string.
    fn longest_stop_prefix_suffix(&self) -> usize {
        let unsent = &self.text[self.emitted..];
        for (start, _) in unsent.char_indices() {
            let suffix = &unsent[start..];
            if self.stops.iter().any(|stop| stop.len() > suffix.len() && stop.starts_with(suffix)) {
                return suffix.len();
            }
        }
        0
    }

    /// Passes on everything held back.
    fn flush(&mut self, on_text: &mut impl FnMut(&str)) {
        if self.text.len() > self.emitted {
            on_text(&self.text[self.emitted..]);
            self.emitted = self.text.len();
        }
    }

    fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` and returns the chunks passed on, the final text and
    /// whether a stop string ended it.
    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut scanner = StopStrings::new(&stops);
        let mut chunks = Vec::new();
        let mut stopped = false;
        for piece in pieces {
            if !scanner.push(piece, &mut |chunk: &str| chunks.push(chunk.to_string())) {
                stopped = true;
                break;
            }
        }
        scanner.flush(&mut |chunk: &str| chunks.push(chunk.to_string()));
        (chunks, scanner.into_text(), stopped)
    }

    #[test]
    fn without_stops_passes_everything() {
        let (chunks, text, stopped) = run(&[], &["ab", "", "c"]);
        assert_eq!(chunks, ["ab", "c"]);
        assert_eq!(text, "abc");
        assert!(!stopped);
    }

    #[test]
    fn stop_inside_one_piece_cuts_there() {
        let (chunks, text, stopped) = run(&["STOP"], &["hello STOP world"]);
        assert_eq!(chunks.concat(), "hello ");
        assert_eq!(text, "hello ");
        assert!(stopped);
    }

    #[test]
    fn stop_across_pieces_is_never_sent() {
        let (chunks, text, stopped) = run(&["User:"], &["fine", " U", "se", "r: next"]);
        assert_eq!(text, "fine ");
        assert!(stopped);
        assert!(chunks.iter().all(|c| !c.contains('U')), "a piece of the stop string leaked: {chunks:?}");
    }

    #[test]
    fn false_start_is_released() {
        let (chunks, text, stopped) = run(&["User:"], &["a Us", "eful", " tip"]);
        assert_eq!(text, "a Useful tip");
        assert_eq!(chunks.concat(), "a Useful tip");
        assert!(!stopped);
        assert_eq!(chunks[0], "a ", "\"Us\" waits until the next piece");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (_, text, stopped) = run(&["bb", "a"], &["xxbba"]);
        assert_eq!(text, "xx");
        assert!(stopped);
    }

    #[test]
    fn multibyte_stop_string_is_held_by_character() {
        let (chunks, text, stopped) = run(&["再见"], &["好的", "再", "见啦"]);
        assert_eq!(text, "好的");
        assert_eq!(chunks, ["好的"]);
        assert!(stopped);
    }

    #[test]
    fn held_text_flushes_at_the_end() {
        let (chunks, text, stopped) = run(&["END"], &["the EN"]);
        assert_eq!(chunks, ["the ", "EN"]);
        assert_eq!(text, "the EN");
        assert!(!stopped);
    }
}
