//! [`Precision`]: the `precision` setting of stateful nodes, `auto` or one arithmetic of
//! [`Arithmetic`] by its name.

use std::fmt;
use std::str::FromStr;

use nodefusion_model::Arithmetic;
use serde::Deserialize;

use super::value::SettingValue;

/// The arithmetic a stateful node computes in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Deserialize)]
#[serde(try_from = "String")]
pub enum Precision {
    /// The fastest the CPU has within the function's accuracy bar.
    #[default]
    Auto,
    /// This one (`fp32`, `bf16`, `int16`); a CPU that lacks it is an error when the node
    /// starts.
    Exactly(Arithmetic),
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text
            .trim()
            .trim_matches(['\'', '"'])
            .eq_ignore_ascii_case("auto")
        {
            return Ok(Self::Auto);
        }
        text.parse()
            .map(Self::Exactly)
            .map_err(|error| error.replacen("must be ", "must be 'auto', ", 1))
    }
}

/// From a pipeline file's string (the setting's key and kind are said around it).
impl TryFrom<String> for Precision {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse().map_err(|_| format!("got '{text}'"))
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Exactly(arithmetic) => arithmetic.fmt(f),
        }
    }
}

impl SettingValue for Precision {
    const KIND: &'static str = "`auto`, `fp32`, `bf16` or `int16`";

    fn parse(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_reads_auto_and_every_arithmetic_and_names_the_words_it_takes() {
        assert_eq!("AUTO".parse(), Ok(Precision::Auto));
        for arithmetic in Arithmetic::ALL {
            let precision = Precision::Exactly(arithmetic);
            assert_eq!(precision.to_string().parse(), Ok(precision));
            assert!(Precision::KIND.contains(&format!("`{arithmetic}`")));
        }
        let error = "fp64".parse::<Precision>().unwrap_err();
        assert_eq!(error, "must be 'auto', 'bf16', 'int16', 'fp32', got 'fp64'");
    }
}
