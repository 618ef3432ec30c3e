//! Training a byte-level BPE [`Tokenizer`] on text.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::TrainerWrapper;

use crate::bpe::{pipeline, special_added_tokens, Tokenizer};
use crate::byte_alphabet::alphabet;
use crate::error::TokenizerError;
use crate::special::SpecialToken;

/// Pairs seen fewer times than this are never merged: a merge learned from a
/// single occurrence does not compress any other text.
const MIN_PAIR_FREQUENCY: u64 = 2;

/// The smallest vocabulary: the special tokens and one token per byte.
pub const MIN_VOCAB_SIZE: usize = SpecialToken::ALL.len() + 256;

impl Tokenizer {
    /// Trains a tokenizer on text files, read line by line.
    ///
    /// `vocab_size` counts the special tokens and the 256 byte tokens, so the
    /// tokenizer learns `vocab_size - 262` merges. It learns fewer when the
    /// corpus runs out of pairs that occur at least twice, so
    /// [`vocab_size`](Self::vocab_size) may come out smaller than requested.
    /// Special token strings in the corpus are treated as plain text.
    ///
    /// # Errors
    /// Returns [`TokenizerError::VocabSizeTooSmall`] when `vocab_size` is
    /// below [`MIN_VOCAB_SIZE`], and [`TokenizerError::ReadCorpus`] naming the
    /// file when a file cannot be opened or read, or is not UTF-8.
    pub fn train_from_files<P: AsRef<Path>>(
        paths: &[P],
        vocab_size: usize,
    ) -> Result<Tokenizer, TokenizerError> {
        check_vocab_size(vocab_size)?;
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        // Open every file first, so that a wrong path fails before training starts.
        for path in &paths {
            File::open(path).map_err(|source| TokenizerError::ReadCorpus {
                path: path.clone(),
                source,
            })?;
        }

        let read_error = Mutex::new(None);
        let lines = FileLines {
            paths: paths.iter(),
            current: None,
            read_error: &read_error,
        };
        let tokenizer = train(lines, vocab_size)?;
        match read_error
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
        {
            Some(err) => Err(err),
            None => Ok(tokenizer),
        }
    }

    /// Trains a tokenizer on strings. See [`train_from_files`](Self::train_from_files)
    /// for how `vocab_size` is counted.
    ///
    /// # Errors
    /// Returns [`TokenizerError::VocabSizeTooSmall`] when `vocab_size` is
    /// below [`MIN_VOCAB_SIZE`].
    pub fn train_from_texts<S: AsRef<str> + Sync>(
        texts: &[S],
        vocab_size: usize,
    ) -> Result<Tokenizer, TokenizerError> {
        check_vocab_size(vocab_size)?;
        train(texts.iter().map(|text| text.as_ref()), vocab_size)
    }
}

fn check_vocab_size(vocab_size: usize) -> Result<(), TokenizerError> {
    if vocab_size < MIN_VOCAB_SIZE {
        return Err(TokenizerError::VocabSizeTooSmall {
            requested: vocab_size,
            minimum: MIN_VOCAB_SIZE,
        });
    }
    Ok(())
}

fn train<I, S>(sequences: I, vocab_size: usize) -> Result<Tokenizer, TokenizerError>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let bpe_trainer = BpeTrainer::builder()
        .vocab_size(vocab_size)
        .min_frequency(MIN_PAIR_FREQUENCY)
        .show_progress(false)
        .special_tokens(special_added_tokens())
        .initial_alphabet(alphabet().collect::<HashSet<char>>())
        .build();
    let mut trainer = TrainerWrapper::BpeTrainer(bpe_trainer);

    let mut inner = pipeline(BPE::default());
    inner
        .train(&mut trainer, sequences)
        .map_err(|source| TokenizerError::Backend {
            action: "training",
            source,
        })?;
    Tokenizer::from_inner(inner)
}

/// The lines of several files in order, each with its line ending.
///
/// The trainer takes an iterator of strings, so a read error cannot be
/// returned from `next`. It is stored in `read_error` instead, and the
/// iterator ends.
struct FileLines<'a> {
    paths: std::slice::Iter<'a, PathBuf>,
    current: Option<(&'a Path, BufReader<File>)>,
    read_error: &'a Mutex<Option<TokenizerError>>,
}

impl FileLines<'_> {
    fn fail(&mut self, path: &Path, source: std::io::Error) -> Option<String> {
        let mut slot = self
            .read_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Some(TokenizerError::ReadCorpus {
            path: path.to_path_buf(),
            source,
        });
        self.current = None;
        self.paths = [].iter();
        None
    }
}

impl Iterator for FileLines<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if self.current.is_none() {
                let path = self.paths.next()?;
                match File::open(path) {
                    Ok(file) => self.current = Some((path, BufReader::new(file))),
                    Err(source) => return self.fail(path, source),
                }
            }
            let (path, reader) = self.current.as_mut().expect("a file is open");
            let path = *path;
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => self.current = None,
                Ok(_) => return Some(line),
                Err(source) => return self.fail(path, source),
            }
        }
    }
}
