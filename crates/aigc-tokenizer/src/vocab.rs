//! Checks that a `tokenizers` tokenizer is byte-level BPE with aigc's special
//! tokens, and builds the id → bytes table that decoding uses.

use tokenizers::{ModelWrapper, PostProcessorWrapper, PreTokenizerWrapper};

use crate::byte_alphabet::{byte_to_char, char_to_byte};
use crate::error::TokenizerError;
use crate::special::SpecialToken;

/// The decoding side of a validated vocabulary.
#[derive(Clone, Debug)]
pub(crate) struct Vocab {
    /// `token_bytes[id]`: the bytes of token `id`, or the text of a special token.
    token_bytes: Vec<Box<[u8]>>,
    /// Ids of the special tokens, indexed by [`SpecialToken::index`].
    special_ids: [u32; SpecialToken::ALL.len()],
}

impl Vocab {
    /// Validates `inner` and builds its byte table.
    ///
    /// These checks make encoding lossless and keep special ids out of
    /// encoded text. Text must reach the byte-level pre-tokenizer unchanged,
    /// every byte must have a token, and no BPE merge may spell a special
    /// token.
    pub(crate) fn from_tokenizer(inner: &tokenizers::Tokenizer) -> Result<Vocab, TokenizerError> {
        check_pipeline(inner)?;
        let merges = check_model(inner.get_model())?;
        let special_ids = find_special_ids(inner)?;

        for (left, right) in &merges {
            for token in SpecialToken::ALL {
                if format!("{left}{right}") == token.content() {
                    return Err(unsupported(format!(
                        "the merge {left:?} + {right:?} spells the special token {}, so plain text could encode to it",
                        token.content()
                    )));
                }
            }
        }

        let entries = inner.get_vocab(true);
        for b in 0..=255u8 {
            if !entries.contains_key(byte_to_char(b).to_string().as_str()) {
                return Err(unsupported(format!(
                    "the vocabulary has no token for byte {b:#04x}, so text containing it could not be encoded"
                )));
            }
        }

        let len = entries.values().max().map_or(0, |&max| max as usize + 1);
        let mut token_bytes: Vec<Option<Box<[u8]>>> = vec![None; len];
        for (token, &id) in &entries {
            let bytes = match SpecialToken::ALL
                .iter()
                .find(|s| special_ids[s.index()] == id)
            {
                Some(special) => special.content().as_bytes().into(),
                None => token_to_bytes(token, id)?,
            };
            if token_bytes[id as usize].replace(bytes).is_some() {
                return Err(unsupported(format!(
                    "two tokens have id {id}, so decoding it would be ambiguous"
                )));
            }
        }
        let token_bytes = token_bytes
            .into_iter()
            .enumerate()
            .map(|(id, bytes)| {
                bytes.ok_or_else(|| {
                    unsupported(format!(
                        "no token has id {id}; ids must run from 0 without gaps"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Vocab {
            token_bytes,
            special_ids,
        })
    }

    /// Returns the number of ids.
    pub(crate) fn len(&self) -> usize {
        self.token_bytes.len()
    }

    /// Returns the bytes of token `id`.
    pub(crate) fn bytes(&self, id: u32) -> Result<&[u8], TokenizerError> {
        self.token_bytes
            .get(id as usize)
            .map(|bytes| &bytes[..])
            .ok_or(TokenizerError::UnknownId {
                id,
                vocab_size: self.len(),
            })
    }

    /// Returns the id of a special token.
    pub(crate) fn special_id(&self, token: SpecialToken) -> u32 {
        self.special_ids[token.index()]
    }

    /// Returns whether `id` is a special token.
    pub(crate) fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }
}

fn unsupported(message: String) -> TokenizerError {
    TokenizerError::Unsupported(message)
}

/// Checks the stages around the model: no normalizer, a byte-level
/// pre-tokenizer with the GPT-2 split and no prefix space, and no
/// post-processor that could add tokens.
fn check_pipeline(inner: &tokenizers::Tokenizer) -> Result<(), TokenizerError> {
    if inner.get_normalizer().is_some() {
        return Err(unsupported(
            "the tokenizer has a normalizer, which would change text before encoding and make decoding lossy".into(),
        ));
    }
    match inner.get_pre_tokenizer() {
        Some(PreTokenizerWrapper::ByteLevel(byte_level)) => {
            if byte_level.add_prefix_space {
                return Err(unsupported(
                    "the ByteLevel pre-tokenizer has add_prefix_space set, which would add a space to decoded text".into(),
                ));
            }
            if !byte_level.use_regex {
                return Err(unsupported(
                    "the ByteLevel pre-tokenizer has use_regex unset, but encoding splits text with the GPT-2 pattern".into(),
                ));
            }
        }
        other => {
            return Err(unsupported(format!(
                "the pre-tokenizer must be ByteLevel, found {other:?}"
            )))
        }
    }
    match inner.get_post_processor() {
        None | Some(PostProcessorWrapper::ByteLevel(_)) => Ok(()),
        Some(other) => Err(unsupported(format!(
            "the post-processor must be absent or ByteLevel, found {other:?}"
        ))),
    }
}

/// Checks that the model is a deterministic byte-level BPE and returns its
/// merges.
fn check_model(model: &ModelWrapper) -> Result<Vec<(String, String)>, TokenizerError> {
    let ModelWrapper::BPE(bpe) = model else {
        return Err(unsupported("the model must be BPE".into()));
    };
    // The merge list is private to the `tokenizers` crate, so it is read
    // from the model's JSON form.
    let json = serde_json::to_value(bpe)
        .map_err(|err| unsupported(format!("the BPE model could not be serialized: {err}")))?;

    for (field, meaning) in [
        ("dropout", "BPE dropout makes encoding random"),
        (
            "continuing_subword_prefix",
            "a subword prefix is not part of the text",
        ),
        (
            "end_of_word_suffix",
            "an end-of-word suffix is not part of the text",
        ),
    ] {
        if !json[field].is_null() {
            return Err(unsupported(format!(
                "the BPE model sets {field}, but {meaning}"
            )));
        }
    }
    if json["ignore_merges"] == serde_json::Value::Bool(true) {
        return Err(unsupported(
            "the BPE model sets ignore_merges, which looks whole words up in the vocabulary".into(),
        ));
    }

    let merges = json["merges"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    merges
        .iter()
        .map(|merge| {
            // `tokenizers` writes a merge as a pair, and older files use "left right".
            let pair = match merge {
                serde_json::Value::Array(pair) => match (pair.first(), pair.get(1)) {
                    (Some(left), Some(right)) => left.as_str().zip(right.as_str()),
                    _ => None,
                },
                serde_json::Value::String(joined) => joined.split_once(' '),
                _ => None,
            };
            pair.map(|(left, right)| (left.to_string(), right.to_string()))
                .ok_or_else(|| {
                    unsupported(format!("the BPE merge {merge} is not a pair of strings"))
                })
        })
        .collect()
}

/// Finds the id of each special token and rejects any other added token.
fn find_special_ids(
    inner: &tokenizers::Tokenizer,
) -> Result<[u32; SpecialToken::ALL.len()], TokenizerError> {
    let added = inner.get_added_tokens_decoder();
    for (id, token) in &added {
        let known = SpecialToken::ALL
            .iter()
            .any(|s| s.content() == token.content);
        if !known || !token.special {
            return Err(unsupported(format!(
                "the added token {:?} (id {id}) is not one of the special tokens {}",
                token.content,
                special_list()
            )));
        }
    }

    let mut ids = [0u32; SpecialToken::ALL.len()];
    for special in SpecialToken::ALL {
        let found = added
            .iter()
            .find(|(_, token)| token.content == special.content())
            .map(|(&id, _)| id);
        ids[special.index()] = found.ok_or_else(|| {
            unsupported(format!(
                "the special token {} is missing; a chat tokenizer needs all of {}",
                special.content(),
                special_list()
            ))
        })?;
    }
    Ok(ids)
}

fn special_list() -> String {
    let contents: Vec<&str> = SpecialToken::ALL.iter().map(|s| s.content()).collect();
    contents.join(", ")
}

/// Converts a vocabulary string in the byte-level alphabet to its bytes.
fn token_to_bytes(token: &str, id: u32) -> Result<Box<[u8]>, TokenizerError> {
    token
        .chars()
        .map(|c| {
            char_to_byte(c).ok_or_else(|| {
                unsupported(format!(
                    "the token {token:?} (id {id}) has the character {c:?}, which is not in the byte-level alphabet"
                ))
            })
        })
        .collect()
}
