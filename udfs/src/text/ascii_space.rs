//! ASCII whitespace as `char::is_whitespace` has it, tested on a byte.

/// Whether `byte` is ASCII whitespace as `char::is_whitespace` has it: space, and tab to
/// carriage return (vertical tab included, which `u8::is_ascii_whitespace` leaves out).
#[inline(always)]
pub fn is_ascii_space(byte: u8) -> bool {
    (byte == b' ') | (byte.wrapping_sub(b'\t') < 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_char_is_whitespace_for_every_ascii_byte() {
        for byte in 0u8..128 {
            assert_eq!(
                is_ascii_space(byte),
                char::from(byte).is_whitespace(),
                "{byte}"
            );
        }
    }
}
