//! [`ByteClassReplacement`]: `regexp_replace(text, pattern, replacement, 'g')` where the
//! pattern is one character class (or one ASCII character), optionally repeated with `+`,
//! done as one pass over the bytes with a 256-entry table instead of a regex search.
//!
//! The pattern is parsed with the regex crate's own parser, with its defaults, so the class
//! is exactly the set of characters the regex would match. A class qualifies when it
//! decides every non-ASCII character the same way (it holds all of them, as `[^a-z ]`
//! does, or none, as `[aeiou,;]` does): then one byte tells whether its character matches.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A replacement that a byte table does as the regex would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteClassReplacement {
    /// Whether each byte belongs to a matching character (every byte of a non-ASCII
    /// character shares the character's answer).
    matches: [bool; 256],
    /// `+`: a run of matching characters is one match, replaced once.
    runs: bool,
    replacement: Vec<u8>,
}

impl ByteClassReplacement {
    /// The byte-table form of replacing every match of `pattern` (with `flags` as
    /// `regexp_replace` takes them) by `replacement`, or `None` where it does not have one:
    /// flags other than `g`, a replacement that refers to groups (`$`, `\1`), a pattern that
    /// is not a single class or ASCII character (repeated by `+` or not), a class that splits
    /// the non-ASCII characters.
    pub fn new(pattern: &str, replacement: &str, flags: Option<&str>) -> Option<Self> {
        if flags != Some("g") || replacement.contains(['$', '\\']) {
            return None;
        }
        let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
        let (class, runs) = match hir.kind() {
            HirKind::Repetition(repetition)
                if repetition.min == 1 && repetition.max.is_none() && repetition.greedy =>
            {
                (class_bytes(&repetition.sub)?, true)
            }
            _ => (class_bytes(&hir)?, false),
        };
        Some(Self {
            matches: class,
            runs,
            replacement: replacement.as_bytes().to_vec(),
        })
    }

    /// Appends `text` with every match replaced to `out`.
    pub fn replace_into(&self, text: &[u8], out: &mut Vec<u8>) {
        self.replace_mapped_into(text, |byte| byte, out);
    }

    /// Appends `text` with each byte mapped by `map` and then every match replaced to
    /// `out`. `map` takes ASCII to ASCII and leaves every other byte as it is (as
    /// `u8::to_ascii_lowercase` does), so characters stay whole.
    #[inline]
    pub fn replace_mapped_into(&self, text: &[u8], map: impl Fn(u8) -> u8, out: &mut Vec<u8>) {
        if self.replacement.is_empty() {
            self.delete_mapped_into(text, map, out);
            return;
        }
        let mut previous_matched = false;
        for byte in text.iter().map(|&byte| map(byte)) {
            let matched = self.matches[usize::from(byte)];
            if !matched {
                out.push(byte);
            } else if begins_match(byte, previous_matched, self.runs) {
                out.extend_from_slice(&self.replacement);
            }
            previous_matched = matched;
        }
    }

    /// [`ByteClassReplacement::replace_mapped_into`] for an empty replacement, branch-free:
    /// every byte is written and only the kept ones move the end on.
    #[inline]
    fn delete_mapped_into(&self, text: &[u8], map: impl Fn(u8) -> u8, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + text.len(), 0);
        let buffer = &mut out[start..];
        let mut written = 0;
        for byte in text.iter().map(|&byte| map(byte)) {
            buffer[written] = byte;
            written += usize::from(!self.matches[usize::from(byte)]);
        }
        out.truncate(start + written);
    }
}

/// Whether a matching `byte` starts a new match: the first byte of a character, and with
/// `runs`, only after a byte that did not match.
#[inline]
fn begins_match(byte: u8, previous_matched: bool, runs: bool) -> bool {
    let begins_character = byte & 0xC0 != 0x80;
    begins_character && !(runs && previous_matched)
}

/// The byte table of `hir` when it is one character class or one ASCII character that
/// decides all non-ASCII characters alike.
fn class_bytes(hir: &Hir) -> Option<[bool; 256]> {
    let mut matches = [false; 256];
    match hir.kind() {
        HirKind::Literal(literal) if literal.0.len() == 1 && literal.0[0].is_ascii() => {
            matches[usize::from(literal.0[0])] = true;
        }
        HirKind::Class(Class::Unicode(class)) => {
            let within_ascii = |ranges: &[regex_syntax::hir::ClassUnicodeRange]| {
                ranges.iter().all(|range| range.end().is_ascii())
            };
            let mut outside = class.clone();
            outside.negate();
            let non_ascii_match = if within_ascii(class.ranges()) {
                false
            } else if within_ascii(outside.ranges()) {
                true
            } else {
                return None;
            };
            for range in class
                .ranges()
                .iter()
                .filter(|range| range.start().is_ascii())
            {
                let last = range.end().min('\u{7f}');
                for byte in range.start() as u8..=last as u8 {
                    matches[usize::from(byte)] = true;
                }
            }
            matches[0x80..].fill(non_ascii_match);
        }
        _ => return None,
    }
    Some(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replaced(pattern: &str, replacement: &str, text: &str) -> String {
        let fast = ByteClassReplacement::new(pattern, replacement, Some("g"))
            .unwrap_or_else(|| panic!("{pattern} has a byte table"));
        let mut out = Vec::new();
        fast.replace_into(text.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_class_replaces_each_character_and_a_repeated_class_each_run() {
        let text = "Ça va, l’été? 東京!!";
        assert_eq!(replaced("[^a-z ]", "", text), "a va lt ");
        assert_eq!(replaced("[^a-z ]", "_", text), "_a va_ l__t__ ____");
        assert_eq!(replaced("[^a-z ]+", "_", text), "_a va_ l_t_ _");
        assert_eq!(replaced("[,!?]", "", text), "Ça va l’été 東京");
        assert_eq!(replaced("!+", ".", text), "Ça va, l’été? 東京.");
    }

    #[test]
    fn patterns_a_byte_table_cannot_do_are_left_to_the_regex() {
        for (pattern, replacement, flags) in [
            ("[a-z]", "", None),
            ("[a-z]", "", Some("gi")),
            ("[a-z]", "$0", Some("g")),
            ("[a-z]", "\\1", Some("g")),
            ("\\s", "", Some("g")),
            ("[a-zé]", "", Some("g")),
            ("[a-z]*", "", Some("g")),
            ("[a-z]+?", "", Some("g")),
            ("ab", "", Some("g")),
            ("é", "", Some("g")),
            ("(", "", Some("g")),
        ] {
            assert_eq!(
                ByteClassReplacement::new(pattern, replacement, flags),
                None,
                "{pattern:?} {replacement:?} {flags:?}"
            );
        }
    }
}
