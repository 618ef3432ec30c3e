//! The GPT-2 pre-tokenizer: splits text into the words that BPE merges within.

use std::sync::LazyLock;

use fancy_regex::Regex;

/// The split pattern of GPT-2, which the `ByteLevel` pre-tokenizer of the
/// `tokenizers` crate (0.23) uses: common English contractions, runs of
/// letters, of digits or of other symbols (each with one optional leading
/// space), and runs of whitespace. The lookahead keeps the last space of a
/// whitespace run for the word that follows it.
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

static GPT2_REGEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(GPT2_PATTERN).expect("the GPT-2 pattern is a valid regex"));

/// Calls `visit` with each pre-tokenizer word of `text`, in order.
///
/// The words concatenate to `text`. As in `tokenizers`, text between two
/// matches is a word of its own, and if the regex engine stops with an error
/// (it has a backtracking limit), the rest of the text is one word.
pub(crate) fn for_each_word<'t, E>(
    text: &'t str,
    mut visit: impl FnMut(&'t str) -> Result<(), E>,
) -> Result<(), E> {
    let mut end_of_last = 0;
    for found in GPT2_REGEX.find_iter(text) {
        let Ok(found) = found else { break };
        if found.start() > end_of_last {
            visit(&text[end_of_last..found.start()])?;
        }
        visit(found.as_str())?;
        end_of_last = found.end();
    }
    if end_of_last < text.len() {
        visit(&text[end_of_last..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        let mut words = Vec::new();
        for_each_word::<()>(text, |word| {
            words.push(word);
            Ok(())
        })
        .unwrap();
        words
    }

    #[test]
    fn splits_like_gpt2() {
        assert_eq!(
            words("Hello world's  end\n"),
            ["Hello", " world", "'s", " ", " end", "\n"]
        );
        assert_eq!(words("我们 学习123!!"), ["我们", " 学习", "123", "!!"]);
        assert_eq!(words(""), Vec::<&str>::new());
    }
}
