//! # aigc-tokenizer
//!
//! Text ↔ token ids for aigc's chat model.
//!
//! * [`Tokenizer`]: byte-level BPE, trained with the Hugging Face
//!   `tokenizers` crate and saved as `tokenizer.json`. Any UTF-8 text
//!   encodes and decodes back unchanged. [`Tokenizer::byte_level`] gives one
//!   token per byte before any training.
//! * [`SpecialToken`]: `<|bos|>`, `<|user|>`, `<|assistant|>`, `<|system|>`,
//!   `<|end|>` and `<|pad|>`. Encoding text never produces them.
//! * [`StreamDecoder`]: decodes generated ids one by one and returns only
//!   complete characters.
//! * [`ChatTemplate`]: renders a conversation as
//!   `<|bos|>` then `<|role|>` content `<|end|>` per message, with a loss mask
//!   over assistant replies for training.
//! * [`data::load_conversations`]: reads OpenAI-style chat JSONL and the
//!   chatterbot YAML corpus.
//!
//! Error convention: everything that reads input returns [`Result`], and a
//! [`TokenizerError`] or [`DataError`] names the file, id or value involved.
//! Bad input is reported as an error, never as a panic, and property tests
//! feed random text to the encoder, decoder and parsers to check this.
//!
//! ```
//! use aigc_tokenizer::{ChatTemplate, Message, Role, Tokenizer};
//!
//! let corpus = ["the cat sat on the mat", "the dog sat on the log", "猫坐在垫子上"];
//! let tokenizer = Tokenizer::train_from_texts(&corpus, 300)?;
//!
//! let ids = tokenizer.encode("the cat, 猫 and <|user|>")?;
//! assert_eq!(tokenizer.decode(&ids)?, "the cat, 猫 and <|user|>");
//! assert!(!ids.contains(&tokenizer.user_id())); // the literal text is not the special token
//!
//! let prompt = ChatTemplate::new(&tokenizer).render_prompt(&[Message::new(Role::User, "hi")])?;
//! assert_eq!(prompt.last(), Some(&tokenizer.assistant_id()));
//! # Ok::<(), aigc_tokenizer::TokenizerError>(())
//! ```
#![warn(missing_docs)]

mod bpe;
mod byte_alphabet;
mod chat;
pub mod data;
mod error;
mod pretokenize;
mod special;
mod stream;
mod train;
mod vocab;

pub use bpe::Tokenizer;
pub use chat::{ChatTemplate, Conversation, Message, Role};
pub use data::{load_conversations, LoadedConversations};
pub use error::{DataError, Location, TokenizerError};
pub use special::SpecialToken;
pub use stream::StreamDecoder;
pub use train::MIN_VOCAB_SIZE;
