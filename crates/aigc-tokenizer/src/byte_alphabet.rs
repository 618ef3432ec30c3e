//! The byte-level alphabet: one printable character for each of the 256 bytes.
//!
//! Byte-level BPE vocabularies (GPT-2 and the `tokenizers` `ByteLevel`
//! pre-tokenizer) store tokens as strings in which every byte is written as a
//! visible character. Bytes that are already printable Latin-1 characters
//! (`!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`) stand for themselves. The other 68 bytes
//! (controls, space, DEL, NBSP and the soft hyphen) take the characters
//! U+0100, U+0101, ... in increasing byte order, so a space is `Ġ` (U+0120)
//! and a newline is `Ċ` (U+010A).

/// Number of bytes that have no printable stand-in of their own.
const REMAPPED: usize = 68;

/// Returns whether byte `b` is written as the Latin-1 character of the same value.
const fn is_printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The bytes without a printable stand-in, in increasing order. Byte
/// `REMAPPED_BYTES[i]` is written as U+0100 + i.
const REMAPPED_BYTES: [u8; REMAPPED] = {
    let mut table = [0u8; REMAPPED];
    let mut count = 0;
    let mut b = 0;
    while b < 256 {
        if !is_printable(b as u8) {
            table[count] = b as u8;
            count += 1;
        }
        b += 1;
    }
    assert!(count == REMAPPED);
    table
};

const BYTE_TO_CHAR: [char; 256] = {
    let mut table = ['\0'; 256];
    let mut next_remapped = 0u32;
    let mut b = 0;
    while b < 256 {
        table[b] = if is_printable(b as u8) {
            b as u8 as char
        } else {
            let c = match char::from_u32(0x100 + next_remapped) {
                Some(c) => c,
                None => panic!("U+0100..U+0144 are valid characters"),
            };
            next_remapped += 1;
            c
        };
        b += 1;
    }
    table
};

/// Returns the character that stands for `byte` in vocabulary strings.
pub(crate) fn byte_to_char(byte: u8) -> char {
    BYTE_TO_CHAR[byte as usize]
}

/// Returns the byte that character `c` stands for, or `None` when `c` is not
/// in the alphabet.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if code < 256 && is_printable(code as u8) {
        return Some(code as u8);
    }
    let offset = code.checked_sub(0x100)? as usize;
    REMAPPED_BYTES.get(offset).copied()
}

/// Returns the 256 alphabet characters in byte order.
pub(crate) fn alphabet() -> impl Iterator<Item = char> {
    BYTE_TO_CHAR.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;

    #[test]
    fn every_byte_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b), "byte {b:#04x}");
        }
    }

    #[test]
    fn alphabet_matches_tokenizers_crate() {
        let ours: std::collections::HashSet<char> = alphabet().collect();
        let theirs: std::collections::HashSet<char> = ByteLevel::alphabet().into_iter().collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn known_stand_ins() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(char_to_byte('中'), None);
    }
}
