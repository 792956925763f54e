//! A BERT encoder (the architecture of all-MiniLM-L6-v2 and the other BERT-family
//! sentence-transformers models) on candle, over *packed* sequences: the tokens of every text in a batch are laid end to
//! end in one `[tokens, hidden]` matrix, so each dense layer is one matrix product with no
//! padding at all, and attention runs per sequence (see [`PackedAttention`]).
//!
//! Weights are read from `model.safetensors` with the Hugging Face names (with or without a
//! `bert.` prefix); the dense weights are transposed once at load time and the query, key
//! and value projections fused into one.

use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::kernels::{Gelu, PackedAttention};

/// The fields of a BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

fn default_hidden_act() -> String {
    "gelu".to_string()
}

/// `x W + b` with `W` stored as `[in, out]`.
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    fn load(vb: &VarBuilder, input: usize, output: usize) -> candle_core::Result<Self> {
        let weight = vb.get((output, input), "weight")?.t()?.contiguous()?;
        let bias = vb.get(output, "bias")?;
        Ok(Self { weight, bias })
    }

    /// The query, key and value projections as one `[in, 3 * out]` layer.
    fn load_fused(vbs: [VarBuilder; 3], size: usize) -> candle_core::Result<Self> {
        let parts = vbs
            .iter()
            .map(|vb| Self::load(vb, size, size))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let weights: Vec<&Tensor> = parts.iter().map(|part| &part.weight).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|part| &part.bias).collect();
        Ok(Self {
            weight: Tensor::cat(&weights, 1)?.contiguous()?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    fn forward(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        input.matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(input, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    query_key_value: Dense,
    attention_output: Dense,
    attention_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let attention = vb.pp("attention");
        let projections = attention.pp("self");
        Ok(Self {
            query_key_value: Dense::load_fused(
                [
                    projections.pp("query"),
                    projections.pp("key"),
                    projections.pp("value"),
                ],
                hidden,
            )?,
            attention_output: Dense::load(&attention.pp("output").pp("dense"), hidden, hidden)?,
            attention_norm: LayerNorm::load(
                &attention.pp("output").pp("LayerNorm"),
                hidden,
                config.layer_norm_eps,
            )?,
            intermediate: Dense::load(
                &vb.pp("intermediate").pp("dense"),
                hidden,
                config.intermediate_size,
            )?,
            output: Dense::load(
                &vb.pp("output").pp("dense"),
                config.intermediate_size,
                hidden,
            )?,
            output_norm: LayerNorm::load(
                &vb.pp("output").pp("LayerNorm"),
                hidden,
                config.layer_norm_eps,
            )?,
        })
    }

    fn forward(&self, hidden: &Tensor, attention: &PackedAttention) -> candle_core::Result<Tensor> {
        let context = self
            .query_key_value
            .forward(hidden)?
            .apply_op1_no_bwd(attention)?;
        let hidden = self
            .attention_norm
            .forward(&(self.attention_output.forward(&context)? + hidden)?)?;
        let activated = self
            .intermediate
            .forward(&hidden)?
            .apply_op1_no_bwd(&Gelu)?;
        self.output_norm
            .forward(&(self.output.forward(&activated)? + hidden)?)
    }
}

/// The encoder: embeddings and the transformer layers.
pub struct BertEncoder {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embedding: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
    max_positions: usize,
}

impl BertEncoder {
    /// Loads the weights in `weights` (a safetensors file) for `config`.
    pub fn load(weights: &Path, config: &BertConfig) -> candle_core::Result<Self> {
        if config.hidden_act != "gelu" {
            candle_core::bail!(
                "unsupported hidden_act '{}' (only 'gelu' is)",
                config.hidden_act
            );
        }
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size,
                config.num_attention_heads
            );
        }
        // SAFETY: the file is mapped read-only and not modified while the model is loaded.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu)? };
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let hidden = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let word_embeddings = embeddings.pp("word_embeddings").get_unchecked("weight")?;
        let position_embeddings = embeddings
            .pp("position_embeddings")
            .get((config.max_position_embeddings, hidden), "weight")?;
        let token_type_embedding = embeddings
            .pp("token_type_embeddings")
            .get_unchecked("weight")?
            .get(0)?;
        let embeddings_norm =
            LayerNorm::load(&embeddings.pp("LayerNorm"), hidden, config.layer_norm_eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp("encoder").pp("layer").pp(index), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings,
            position_embeddings,
            token_type_embedding,
            embeddings_norm,
            layers,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
            max_positions: config.max_position_embeddings,
        })
    }

    /// The last hidden state `[tokens, hidden]` of the packed sequences: `ids` holds the
    /// token ids of every sequence, one after the other, `lengths` how many each has.
    pub fn forward(&self, ids: &[u32], lengths: &[usize]) -> candle_core::Result<Tensor> {
        if let Some(length) = lengths.iter().find(|&&length| length > self.max_positions) {
            candle_core::bail!(
                "a sequence of {length} tokens is longer than the model's {} positions",
                self.max_positions
            );
        }
        let positions: Vec<u32> = lengths
            .iter()
            .flat_map(|&length| 0..length as u32)
            .collect();
        let device = &Device::Cpu;
        let words = self
            .word_embeddings
            .embedding(&Tensor::from_slice(ids, ids.len(), device)?)?;
        let positions = self.position_embeddings.embedding(&Tensor::from_slice(
            &positions,
            positions.len(),
            device,
        )?)?;
        let embedded = (words + positions)?.broadcast_add(&self.token_type_embedding)?;
        let mut hidden = self.embeddings_norm.forward(&embedded)?;
        let attention = PackedAttention {
            lengths,
            heads: self.heads,
            head_size: self.head_size,
        };
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &attention)?;
        }
        debug_assert_eq!(hidden.dim(D::Minus1)?, self.heads * self.head_size);
        Ok(hidden)
    }
}
