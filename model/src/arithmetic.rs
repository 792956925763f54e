//! [`Arithmetic`]: the number format the encoder's dense products compute in, chosen by
//! what the CPU does fast.

use std::str::FromStr;

use crate::bf16_matrix::bf16_supported;
use crate::int16_matrix::int16_supported;

/// How the dense products of the encoder compute (attention, normalisation and the rest are
/// `f32` in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arithmetic {
    /// `f32` throughout.
    Fp32,
    /// Weights and activations rounded to bfloat16, products summed in `f32` (AVX-512 BF16
    /// dot products): about twice the arithmetic per instruction, vectors within a cosine of
    /// 0.999 of the `f32` ones.
    Bf16,
    /// Weights scaled to 16-bit integers per column and activations to 11-bit ones per row,
    /// products summed in `i32` (AVX-512 VNNI): the same arithmetic per instruction as bf16,
    /// on CPUs without BF16.
    Int16,
}

impl Arithmetic {
    /// Every arithmetic, in the order [`Self::fastest`] prefers them.
    pub const ALL: [Self; 3] = [Self::Bf16, Self::Int16, Self::Fp32];

    /// The fastest arithmetic this CPU has.
    pub fn fastest() -> Self {
        Self::ALL
            .into_iter()
            .find(|arithmetic| arithmetic.supported())
            .unwrap_or(Self::Fp32)
    }

    /// Whether this CPU can compute in this arithmetic.
    pub fn supported(self) -> bool {
        match self {
            Self::Fp32 => true,
            Self::Bf16 => bf16_supported(),
            Self::Int16 => int16_supported(),
        }
    }

    /// The CPU features this arithmetic needs, in words.
    pub fn requirement(self) -> &'static str {
        match self {
            Self::Fp32 => "nothing",
            Self::Bf16 => "AVX-512 BF16",
            Self::Int16 => "AVX-512 VNNI",
        }
    }
}

impl std::fmt::Display for Arithmetic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Int16 => "int16",
        })
    }
}

impl FromStr for Arithmetic {
    type Err = String;

    /// One of the words [`Arithmetic`] displays as, case and quotes aside.
    fn from_str(text: &str) -> Result<Self, String> {
        let word = text.trim().trim_matches(['\'', '"']).to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|arithmetic| arithmetic.to_string() == word)
            .ok_or_else(|| {
                let words: Vec<String> = Self::ALL.iter().map(|a| format!("'{a}'")).collect();
                format!("must be {}, got '{text}'", words.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arithmetic_reads_back_from_its_word() {
        for arithmetic in Arithmetic::ALL {
            assert_eq!(arithmetic.to_string().parse(), Ok(arithmetic));
            assert_eq!(
                format!(" '{}' ", arithmetic.to_string().to_uppercase()).parse(),
                Ok(arithmetic)
            );
        }
        let error = "int8".parse::<Arithmetic>().unwrap_err();
        assert!(
            error.contains("'int8'") && error.contains("'int16'"),
            "{error}"
        );
        assert!(Arithmetic::fastest().supported());
    }
}
