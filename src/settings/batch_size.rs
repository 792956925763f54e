//! [`BatchSize`]: the value of the `batch_size` setting, a number of rows or `auto`.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::value::SettingValue;

/// The rows of the batches a node with `batch_size = "auto"` is planned with: the largest
/// call its tuning tries.
pub const AUTO_BATCH_ROWS: usize = 1024;

/// The rows per call of a node: a number, or `auto`, under which a stateful node picks its
/// call size by measured throughput (up to [`AUTO_BATCH_ROWS`]) and any other node takes the
/// size it would have had unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum BatchSize {
    /// Exactly this many rows per call (the last batch may be shorter).
    Rows(usize),
    /// Chosen while the node runs.
    Auto,
}

impl BatchSize {
    /// The rows of the batches the node is planned with: its calls' size, or under `auto`
    /// their upper bound.
    pub fn rows(self) -> usize {
        match self {
            Self::Rows(rows) => rows,
            Self::Auto => AUTO_BATCH_ROWS,
        }
    }
}

impl FromStr for BatchSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let word = text.trim().trim_matches(['\'', '"']);
        if word.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        word.parse()
            .map(Self::Rows)
            .map_err(|_| format!("must be a whole number or 'auto', got '{text}'"))
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rows(rows) => write!(f, "{rows}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BatchSizeVisitor)
    }
}

/// Reads a batch size from a number or a string of a structured format.
struct BatchSizeVisitor;

impl serde::de::Visitor<'_> for BatchSizeVisitor {
    type Value = BatchSize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number or 'auto'")
    }

    fn visit_u64<E: serde::de::Error>(self, rows: u64) -> Result<BatchSize, E> {
        usize::try_from(rows)
            .map(BatchSize::Rows)
            .map_err(|_| E::custom(format!("{rows} rows is more than this machine can address")))
    }

    fn visit_i64<E: serde::de::Error>(self, rows: i64) -> Result<BatchSize, E> {
        u64::try_from(rows)
            .map_err(|_| E::custom(format!("got {rows}")))
            .and_then(|rows| self.visit_u64(rows))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<BatchSize, E> {
        text.parse().map_err(|_| E::custom(format!("got '{text}'")))
    }
}

impl SettingValue for BatchSize {
    const KIND: &'static str = "a whole number or `auto`";

    fn parse(text: &str) -> Result<Self, String> {
        text.parse()
    }

    fn is_zero(&self) -> bool {
        *self == Self::Rows(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_size_is_a_number_or_auto_in_text_and_in_files() {
        assert_eq!(" 64 ".parse(), Ok(BatchSize::Rows(64)));
        assert_eq!("'AUTO'".parse(), Ok(BatchSize::Auto));
        assert!("lots".parse::<BatchSize>().unwrap_err().contains("'lots'"));
        assert_eq!(BatchSize::Auto.to_string().parse(), Ok(BatchSize::Auto));
        #[derive(Deserialize)]
        struct File {
            a: BatchSize,
            b: BatchSize,
        }
        let file: File = toml::from_str("a = 32\nb = \"auto\"").unwrap();
        assert_eq!((file.a, file.b), (BatchSize::Rows(32), BatchSize::Auto));
        assert!(toml::from_str::<File>("a = \"many\"\nb = 1").is_err());
        assert_eq!(BatchSize::Auto.rows(), AUTO_BATCH_ROWS);
    }
}
