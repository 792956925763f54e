//! The value types node settings take, how each is read from text (`SET`, `--set`) and
//! from a pipeline file, and the checks a setting may ask for.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::batch_size::BatchSize;

/// A type a node setting may have.
pub trait SettingValue: Sized + Clone + fmt::Display + for<'de> Deserialize<'de> {
    /// The values it takes, in words, for errors and the documentation.
    const KIND: &'static str;

    /// The value `text` stands for, or what is wrong with it.
    fn parse(text: &str) -> Result<Self, String>;

    /// Whether this is zero (for [`at_least_one`]).
    fn is_zero(&self) -> bool {
        false
    }
}

/// Whole numbers: `usize`, `u64`, `u32`.
macro_rules! whole_number_setting {
    ($($number:ty),*) => {$(
        impl SettingValue for $number {
            const KIND: &'static str = "a whole number";

            fn parse(text: &str) -> Result<Self, String> {
                text.trim()
                    .parse()
                    .map_err(|_| format!("must be a whole number, got '{text}'"))
            }

            fn is_zero(&self) -> bool {
                *self == 0
            }
        }
    )*};
}

whole_number_setting!(usize, u64, u32);

/// An enum setting written as one of a few words: the type, its parsing (case and quotes
/// aside), its display and its [`SettingValue`] kind.
macro_rules! word_setting {
    ($(#[$meta:meta])* $name:ident ($kind:literal) { $($(#[$variant_meta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Deserialize)]
        #[serde(try_from = "String")]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        /// From a pipeline file's string (the setting's key and kind are said around it).
        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                text.parse().map_err(|_| format!("got '{text}'"))
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(value: &str) -> Result<Self, String> {
                match value
                    .trim()
                    .trim_matches(['\'', '"'])
                    .to_ascii_lowercase()
                    .as_str()
                {
                    $($word => Ok(Self::$variant),)+
                    _ => Err(format!("must be {}, got '{value}'", [$(concat!("'", $word, "'")),+].join(" or "))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $word,)+
                })
            }
        }

        impl SettingValue for $name {
            const KIND: &'static str = $kind;

            fn parse(text: &str) -> Result<Self, String> {
                text.parse()
            }
        }
    };
}

word_setting! {
    /// What a node does with a row its function fails on.
    OnError ("`fail` or `null`") {
        /// Fail the run, naming the node, the function and the row.
        #[default]
        Fail = "fail",
        /// Give the row a null and count it in `failed_rows`.
        Null = "null",
    }
}

word_setting! {
    /// Where the instances of a Python node compute.
    Isolation ("`thread` or `process`") {
        /// Each on a thread of its own, in this process.
        #[default]
        Thread = "thread",
        /// Each in a worker process of its own (`python -m nodefusion.worker`).
        Process = "process",
    }
}

word_setting! {
    /// What a node does with the result cache (on disk, in `NODEFUSION_CACHE`).
    CacheMode ("`auto`, `off`, `read` or `readwrite`") {
        /// Read and write results of deterministic remote calls (`llm` at temperature 0 or
        /// with a seed, `embed_remote`); leave the others alone.
        #[default]
        Auto = "auto",
        /// Neither read nor write.
        Off = "off",
        /// Read results, write none.
        Read = "read",
        /// Read and write every result, deterministic or not.
        Readwrite = "readwrite",
    }
}

impl CacheMode {
    /// Whether calls read the cache, for a call that is `deterministic` or not.
    pub fn reads(self, deterministic: bool) -> bool {
        match self {
            Self::Auto => deterministic,
            Self::Off => false,
            Self::Read | Self::Readwrite => true,
        }
    }

    /// Whether results are written to the cache, for a call that is `deterministic` or not.
    pub fn writes(self, deterministic: bool) -> bool {
        match self {
            Self::Auto => deterministic,
            Self::Off | Self::Read => false,
            Self::Readwrite => true,
        }
    }
}

/// An amount of US dollars, kept in nano-dollars (as costs are counted): `0.5`, `12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub struct Usd(u64);

impl Usd {
    /// The amount in nano-dollars.
    pub fn nanodollars(self) -> u64 {
        self.0
    }
}

impl FromStr for Usd {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let dollars: f64 = text
            .trim()
            .trim_start_matches('$')
            .parse()
            .map_err(|_| format!("must be an amount of dollars such as 2.50, got '{text}'"))?;
        if !dollars.is_finite() || !(0.0..=1e9).contains(&dollars) {
            return Err(format!(
                "must be an amount of dollars from 0 to 1e9, got '{text}'"
            ));
        }
        Ok(Self((dollars * 1e9).round() as u64))
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0 as f64 / 1e9)
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(f64),
            Text(String),
        }
        let text = match Written::deserialize(deserializer)? {
            Written::Number(number) => number.to_string(),
            Written::Text(text) => text,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl SettingValue for Usd {
    const KIND: &'static str = "dollars";

    fn parse(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

/// The check of a setting that must be at least 1.
pub fn at_least_one<T: SettingValue>(value: &T) -> Result<(), String> {
    if value.is_zero() {
        return Err("must be at least 1".into());
    }
    Ok(())
}

/// The most rows a batch may have: above it a batch is no longer a batch but the data.
pub const MAX_BATCH_SIZE: usize = 1 << 24;

/// The check of `batch_size`: `auto`, or at least one row and at most [`MAX_BATCH_SIZE`].
pub fn rows_per_batch(value: &BatchSize) -> Result<(), String> {
    match value {
        BatchSize::Rows(rows) if !(1..=MAX_BATCH_SIZE).contains(rows) => Err(format!(
            "must be between 1 and {MAX_BATCH_SIZE} rows or 'auto', got {rows}"
        )),
        _ => Ok(()),
    }
}

/// The check of a setting every value of whose type is valid.
pub fn any<T: SettingValue>(_value: &T) -> Result<(), String> {
    Ok(())
}
