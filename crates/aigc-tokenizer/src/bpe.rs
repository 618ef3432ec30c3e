//! The byte-level BPE [`Tokenizer`]: construction, encoding, decoding and
//! `tokenizer.json` files.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Model, ModelWrapper};

use crate::byte_alphabet::byte_to_char;
use crate::error::TokenizerError;
use crate::pretokenize::for_each_word;
use crate::special::SpecialToken;
use crate::stream::StreamDecoder;
use crate::vocab::Vocab;

/// A byte-level BPE tokenizer with aigc's chat special tokens.
///
/// Text is split with the GPT-2 pre-tokenizer pattern, written as bytes, and
/// the bytes are merged by BPE. Every byte has a token of its own, so any
/// UTF-8 string encodes, and [`decode`](Self::decode) returns it unchanged.
/// No normalization is applied.
///
/// The model is a `tokenizers::Tokenizer` and is saved as a Hugging Face
/// `tokenizer.json`.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    vocab: Vocab,
}

impl Tokenizer {
    /// Builds a tokenizer with the 256 byte tokens and the special tokens and
    /// no merges, so that each byte of text becomes one token.
    ///
    /// Ids 0..6 are the special tokens in [`SpecialToken::ALL`] order and
    /// id `6 + b` is byte `b`.
    pub fn byte_level() -> Tokenizer {
        let specials = SpecialToken::ALL.iter().map(|s| s.content().to_string());
        let bytes = (0..=255u8).map(|b| byte_to_char(b).to_string());
        let vocab: tokenizers::models::bpe::Vocab = specials.chain(bytes).zip(0u32..).collect();

        let model = BPE::builder()
            .vocab_and_merges(vocab, Vec::new())
            .build()
            .expect("a BPE without merges always builds");
        let mut inner = pipeline(model);
        inner
            .add_special_tokens(special_added_tokens())
            .expect("the special tokens are already in the model's vocabulary");

        Tokenizer::from_inner(inner).expect("the byte-level vocabulary is complete by construction")
    }

    /// Wraps a `tokenizers` tokenizer after checking that it is byte-level BPE
    /// with all special tokens.
    ///
    /// Truncation and padding are turned off, and special tokens in input
    /// text are encoded as plain text.
    pub(crate) fn from_inner(
        mut inner: tokenizers::Tokenizer,
    ) -> Result<Tokenizer, TokenizerError> {
        inner.set_encode_special_tokens(true);
        inner
            .with_truncation(None)
            .expect("turning truncation off cannot fail");
        inner.with_padding(None);
        let vocab = Vocab::from_tokenizer(&inner)?;
        Ok(Tokenizer { inner, vocab })
    }

    /// Loads a tokenizer from a Hugging Face `tokenizer.json` file.
    ///
    /// # Errors
    /// Returns an error when the file cannot be read or parsed, or when it is
    /// not a byte-level BPE without normalizer that has all
    /// [`SpecialToken`]s and a token for every byte.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Tokenizer, TokenizerError> {
        let path = path.as_ref();
        let json = fs::read_to_string(path).map_err(|source| TokenizerError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        // tokenizers 0.23.2 panics (`expect("Helper")` in the decoder's
        // deserializer) on a syntax error inside the "decoder" value, so
        // invalid JSON is rejected here first.
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&json) {
            return Err(TokenizerError::Parse {
                path: path.to_path_buf(),
                source: Box::new(error),
            });
        }
        let inner =
            tokenizers::Tokenizer::from_str(&json).map_err(|source| TokenizerError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        Tokenizer::from_inner(inner)
    }

    /// Saves the tokenizer as a Hugging Face `tokenizer.json` file.
    ///
    /// The JSON goes to a temporary file in the same folder, which is then
    /// renamed over `path`, so readers see the old file or the new one and
    /// never a partial write.
    ///
    /// # Errors
    /// Returns an error when serializing, writing or renaming fails.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), TokenizerError> {
        let path = path.as_ref();
        let json = self
            .inner
            .to_string(true)
            .map_err(|source| TokenizerError::Backend {
                action: "serializing",
                source,
            })?;
        write_atomically(path, json.as_bytes())
    }

    /// Encodes text into token ids.
    ///
    /// The result never contains a special token id, even when `text`
    /// contains a string such as `<|user|>`.
    ///
    /// The ids are those of the `tokenizers` pipeline (a test compares the
    /// two), but the words go straight to the BPE model, which skips the
    /// offset bookkeeping that makes the pipeline several times slower.
    ///
    /// # Errors
    /// Returns [`TokenizerError::Backend`] if the BPE model fails. With the
    /// validated vocabulary, which has a token for every byte, that does not
    /// happen for any UTF-8 input.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let backend_error = |source| TokenizerError::Backend {
            action: "encoding",
            source,
        };
        let ModelWrapper::BPE(bpe) = self.inner.get_model() else {
            unreachable!("Vocab::from_tokenizer accepts only BPE models");
        };

        let mut ids = Vec::with_capacity(text.len() / 2);
        let mut word = String::new();
        for_each_word(text, |piece| {
            word.clear();
            word.extend(piece.bytes().map(byte_to_char));
            let tokens = bpe.tokenize(&word).map_err(backend_error)?;
            ids.extend(tokens.iter().map(|token| token.id));
            Ok(())
        })?;
        Ok(ids)
    }

    /// Decodes token ids into text.
    ///
    /// Special tokens decode to their text, such as `<|end|>`. A byte sequence
    /// that is not valid UTF-8, as when a sequence stops inside a multi-byte
    /// character, decodes to U+FFFD for each invalid part. For
    /// `decode(&encode(s)?)` the result is always `s`.
    ///
    /// # Errors
    /// Returns [`TokenizerError::UnknownId`] for an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    /// Returns the bytes of token `id`, or the text of a special token.
    ///
    /// # Errors
    /// Returns [`TokenizerError::UnknownId`] for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8], TokenizerError> {
        self.vocab.bytes(id)
    }

    /// Starts decoding a stream of token ids, such as a model's output.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder::new(self)
    }

    /// Returns the number of tokens, special tokens included. Every id is
    /// below this number.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// Returns the id of a vocabulary entry, written as it is stored in
    /// `tokenizer.json`: special tokens as their text, other tokens in the
    /// byte-level alphabet, where a space is `Ġ` and a newline `Ċ`.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Returns the vocabulary entry for `id`, in the same form as
    /// [`token_to_id`](Self::token_to_id) takes.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Returns the id of a special token.
    pub fn special_id(&self, token: SpecialToken) -> u32 {
        self.vocab.special_id(token)
    }

    /// Returns whether `id` is one of the [`SpecialToken`]s.
    pub fn is_special(&self, id: u32) -> bool {
        self.vocab.is_special(id)
    }

    /// Returns the id of `<|bos|>`.
    pub fn bos_id(&self) -> u32 {
        self.special_id(SpecialToken::Bos)
    }

    /// Returns the id of `<|user|>`.
    pub fn user_id(&self) -> u32 {
        self.special_id(SpecialToken::User)
    }

    /// Returns the id of `<|assistant|>`.
    pub fn assistant_id(&self) -> u32 {
        self.special_id(SpecialToken::Assistant)
    }

    /// Returns the id of `<|system|>`.
    pub fn system_id(&self) -> u32 {
        self.special_id(SpecialToken::System)
    }

    /// Returns the id of `<|end|>`.
    pub fn end_id(&self) -> u32 {
        self.special_id(SpecialToken::End)
    }

    /// Returns the id of `<|pad|>`.
    pub fn pad_id(&self) -> u32 {
        self.special_id(SpecialToken::Pad)
    }

    /// Returns the underlying `tokenizers` tokenizer.
    pub fn as_hf(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .finish_non_exhaustive()
    }
}

/// Builds an untrained `tokenizers` pipeline around `model`: no normalizer,
/// the GPT-2 byte-level pre-tokenizer without an added prefix space, and the
/// byte-level decoder.
pub(crate) fn pipeline(model: BPE) -> tokenizers::Tokenizer {
    let byte_level = ByteLevel::new(false, false, true);
    let mut inner = tokenizers::Tokenizer::new(model);
    inner.with_pre_tokenizer(Some(byte_level));
    inner.with_decoder(Some(byte_level));
    inner.set_encode_special_tokens(true);
    inner
}

/// Returns the special tokens as `tokenizers` added tokens.
pub(crate) fn special_added_tokens() -> Vec<AddedToken> {
    SpecialToken::ALL
        .iter()
        .map(|token| AddedToken::from(token.content(), true))
        .collect()
}

static SAVE_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Writes `contents` to a temporary file next to `path`, syncs it and renames
/// it over `path`.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), TokenizerError> {
    let io_error = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| TokenizerError::Io {
            action,
            path,
            source,
        }
    };

    let file_name = path.file_name().ok_or_else(|| TokenizerError::Io {
        action: "write",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    // The process id and a per-process counter keep concurrent saves apart.
    let count = SAVE_COUNTER.fetch_add(1, Ordering::Relaxed);
    temp_name.push(format!(".tmp-{}-{count}", std::process::id()));
    let temp_path: PathBuf = path.with_file_name(temp_name);

    let written = fs::File::create(&temp_path)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .map_err(io_error("write", &temp_path));
    if let Err(err) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(err);
    }
    fs::rename(&temp_path, path).map_err(|source| {
        let _ = fs::remove_file(&temp_path);
        io_error("rename", path)(source)
    })
}
