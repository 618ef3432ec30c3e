//! Incremental decoding of a token stream into complete UTF-8 text.

use crate::bpe::Tokenizer;
use crate::error::TokenizerError;

/// Decodes token ids one at a time, returning text only once its UTF-8
/// characters are complete.
///
/// A byte-level token can end in the middle of a multi-byte character: `中`
/// is three bytes, and a model may emit them as three tokens. The decoder
/// keeps the incomplete bytes until the character is whole, so each character
/// is returned exactly once.
///
/// Bytes that can never become valid UTF-8 are returned as U+FFFD, as in
/// [`Tokenizer::decode`]. The concatenation of everything [`push`](Self::push)
/// and [`finish`](Self::finish) return equals `decode` of all the ids.
///
/// ```
/// use aigc_tokenizer::Tokenizer;
///
/// let tokenizer = Tokenizer::byte_level();
/// let ids = tokenizer.encode("中")?; // three byte tokens
/// let mut stream = tokenizer.stream_decoder();
/// assert_eq!(stream.push(ids[0])?, "");
/// assert_eq!(stream.push(ids[1])?, "");
/// assert_eq!(stream.push(ids[2])?, "中");
/// # Ok::<(), aigc_tokenizer::TokenizerError>(())
/// ```
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    /// Bytes received but not yet returned: the start of an incomplete character.
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    /// Starts an empty stream. [`Tokenizer::stream_decoder`] is the usual way in.
    pub fn new(tokenizer: &'a Tokenizer) -> StreamDecoder<'a> {
        StreamDecoder {
            tokenizer,
            pending: Vec::new(),
        }
    }

    /// Adds one token and returns the text it completes, which may be empty.
    ///
    /// A special token such as `<|end|>` returns its text, like any other
    /// token. Callers that stop on a special token should compare the id
    /// before pushing it.
    ///
    /// # Errors
    /// Returns [`TokenizerError::UnknownId`] for an id outside the vocabulary;
    /// the stream is unchanged and can go on.
    pub fn push(&mut self, id: u32) -> Result<String, TokenizerError> {
        self.pending
            .extend_from_slice(self.tokenizer.token_bytes(id)?);
        Ok(self.take_complete())
    }

    /// Ends the stream and returns what is left, with an incomplete final
    /// character written as U+FFFD.
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }

    /// Returns whether bytes of an incomplete character are waiting.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Removes and returns the longest prefix of `pending` that is valid UTF-8,
    /// with invalid sequences replaced, and keeps a trailing incomplete
    /// character.
    fn take_complete(&mut self) -> String {
        let mut text = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(valid) => {
                    text.push_str(valid);
                    start = self.pending.len();
                    break;
                }
                Err(err) => {
                    let valid_end = start + err.valid_up_to();
                    let valid = std::str::from_utf8(&self.pending[start..valid_end])
                        .expect("bytes up to valid_up_to are valid UTF-8");
                    text.push_str(valid);
                    match err.error_len() {
                        // An invalid sequence: it stays invalid whatever follows.
                        Some(invalid_len) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            start = valid_end + invalid_len;
                        }
                        // The start of a character whose other bytes have not arrived.
                        None => {
                            start = valid_end;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        text
    }
}
