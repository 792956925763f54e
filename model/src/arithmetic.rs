//! [`Arithmetic`]: the number format the encoder's dense products compute in, chosen by
//! what the CPU does fast.

use crate::bf16_matrix::bf16_supported;

/// How the dense products of the encoder compute (attention, normalisation and the rest are
/// `f32` in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// `f32` throughout.
    Fp32,
    /// Weights and activations rounded to bfloat16, products summed in `f32` (AVX-512 BF16
    /// dot products): about twice the arithmetic per instruction, vectors within a cosine of
    /// 0.999 of the `f32` ones.
    Bf16,
}

impl Arithmetic {
    /// The fastest arithmetic this CPU has.
    pub fn fastest() -> Self {
        if bf16_supported() {
            Self::Bf16
        } else {
            Self::Fp32
        }
    }

    /// Whether this CPU can compute in this arithmetic.
    pub fn supported(self) -> bool {
        match self {
            Self::Fp32 => true,
            Self::Bf16 => bf16_supported(),
        }
    }
}

impl std::fmt::Display for Arithmetic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
        })
    }
}
