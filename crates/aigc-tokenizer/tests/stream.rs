//! Streaming decode: characters split across tokens appear once, when whole.

mod common;

use aigc_tokenizer::{StreamDecoder, Tokenizer, TokenizerError};
use common::small_bpe;
use proptest::prelude::*;

/// Pushes each id and returns what every push produced.
fn push_all(stream: &mut StreamDecoder<'_>, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|&id| stream.push(id).unwrap()).collect()
}

#[test]
fn chinese_split_over_byte_tokens() {
    let tokenizer = Tokenizer::byte_level();
    let ids = tokenizer.encode("中文").unwrap();
    assert_eq!(ids.len(), 6);

    let mut stream = tokenizer.stream_decoder();
    let pieces = push_all(&mut stream, &ids);
    assert_eq!(pieces, ["", "", "中", "", "", "文"]);
    assert!(!stream.has_pending());
    assert_eq!(stream.finish(), "");
}

#[test]
fn emoji_split_over_byte_tokens() {
    let tokenizer = Tokenizer::byte_level();
    // 🎉 is four bytes; the family emoji is seven code points joined by U+200D.
    let text = "a🎉b👨‍👩‍👧";
    let ids = tokenizer.encode(text).unwrap();

    let mut stream = tokenizer.stream_decoder();
    let pieces = push_all(&mut stream, &ids);
    let non_empty: Vec<&str> = pieces
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!(
        non_empty,
        ["a", "🎉", "b", "👨", "\u{200d}", "👩", "\u{200d}", "👧"]
    );
    assert_eq!(pieces.concat(), text);
}

#[test]
fn bpe_tokens_stream_whole_text() {
    let tokenizer = small_bpe();
    let text = "我们今天学习机器学习。emoji: 🎉🎉 done";
    let ids = tokenizer.encode(text).unwrap();
    let mut stream = tokenizer.stream_decoder();
    let pieces = push_all(&mut stream, &ids);
    assert_eq!(pieces.concat(), text);
    for piece in &pieces {
        assert!(
            !piece.contains('\u{fffd}'),
            "partial character in {piece:?}"
        );
    }
}

#[test]
fn incomplete_character_flushes_as_replacement() {
    let tokenizer = Tokenizer::byte_level();
    let ids = tokenizer.encode("中").unwrap();
    let mut stream = tokenizer.stream_decoder();
    assert_eq!(stream.push(ids[0]).unwrap(), "");
    assert!(stream.has_pending());
    assert_eq!(stream.finish(), "\u{fffd}");
}

#[test]
fn invalid_bytes_do_not_block_stream() {
    let tokenizer = Tokenizer::byte_level();
    let byte = |b: u8| 6 + u32::from(b);
    let mut stream = tokenizer.stream_decoder();
    // A lead byte of a 3-byte character, then ASCII: the lead byte can never complete.
    assert_eq!(stream.push(byte(0xe4)).unwrap(), "");
    assert_eq!(stream.push(byte(b'x')).unwrap(), "\u{fffd}x");
    // A stray continuation byte is invalid at once.
    assert_eq!(stream.push(byte(0x80)).unwrap(), "\u{fffd}");
}

#[test]
fn special_token_streams_its_text() {
    let tokenizer = Tokenizer::byte_level();
    let mut stream = tokenizer.stream_decoder();
    assert_eq!(stream.push(tokenizer.end_id()).unwrap(), "<|end|>");
}

#[test]
fn unknown_id_leaves_stream_usable() {
    let tokenizer = Tokenizer::byte_level();
    let ids = tokenizer.encode("中").unwrap();
    let mut stream = tokenizer.stream_decoder();
    stream.push(ids[0]).unwrap();
    let err = stream.push(9999).unwrap_err();
    assert!(matches!(
        err,
        TokenizerError::UnknownId {
            id: 9999,
            vocab_size: 262
        }
    ));
    stream.push(ids[1]).unwrap();
    assert_eq!(stream.push(ids[2]).unwrap(), "中");
}

proptest! {
    #[test]
    fn stream_matches_decode(ids in prop::collection::vec(0u32..262, 0..64)) {
        let tokenizer = Tokenizer::byte_level();
        let mut stream = tokenizer.stream_decoder();
        let mut streamed = push_all(&mut stream, &ids).concat();
        streamed.push_str(&stream.finish());
        prop_assert_eq!(streamed, tokenizer.decode(&ids).unwrap());
    }

    #[test]
    fn stream_of_encoded_text_is_the_text(text in any::<String>()) {
        let tokenizer = Tokenizer::byte_level();
        let ids = tokenizer.encode(&text).unwrap();
        let mut stream = tokenizer.stream_decoder();
        let pieces = push_all(&mut stream, &ids);
        prop_assert!(!stream.has_pending());
        prop_assert_eq!(pieces.concat(), text);
    }
}
