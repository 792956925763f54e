//! A BERT encoder (the architecture of all-MiniLM-L6-v2 and the other BERT-family
//! sentence-transformers models) over *packed* sequences: the tokens of every text in a batch
//! are laid end to end in one `[tokens, hidden]` matrix, so each dense layer is one matrix
//! product with no padding at all, and attention runs per sequence (see
//! [`packed_attention`]).
//!
//! candle reads the weights from `model.safetensors` (Hugging Face names, with or without a
//! `bert.` prefix); the dense weights are transposed once at load time and the query, key
//! and value projections fused into one. The forward pass runs on plain `f32` rows with the
//! matrix products of [`crate::matrix`] (candle's gemm kernels, called directly), or, in
//! [`Arithmetic::Bf16`] and [`Arithmetic::Int16`], the dense layers' products on bf16 or
//! int16 weights packed at load (a layer too wide for int16 stays `f32`): each
//! product starts from the bias, or the bias plus the residual, so neither costs a pass of
//! its own, and the number of threads is the caller's.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::arithmetic::Arithmetic;
use crate::bf16_matrix::Bf16Matrix;
use crate::int16_matrix::{Int16Matrix, int16_fits};
use crate::kernels::{gelu, layer_norm, packed_attention};
use crate::matrix::{Output, View, multiply};

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

/// The values of a tensor, row after row.
fn values(tensor: &Tensor) -> candle_core::Result<Vec<f32>> {
    tensor.flatten_all()?.to_vec1::<f32>()
}

/// The weights of a dense layer, `[in, out]`, in the form its products read.
enum Weights {
    Fp32 { values: Vec<f32>, inner: usize },
    Bf16(Bf16Matrix),
    Int16(Int16Matrix),
}

impl Weights {
    fn new(values: Vec<f32>, inner: usize, arithmetic: Arithmetic) -> Self {
        let columns = values.len() / inner;
        match arithmetic {
            Arithmetic::Bf16 => Self::Bf16(Bf16Matrix::pack(&values, inner, columns)),
            Arithmetic::Int16 if int16_fits(inner) => {
                Self::Int16(Int16Matrix::pack(&values, inner, columns))
            }
            Arithmetic::Fp32 | Arithmetic::Int16 => Self::Fp32 { values, inner },
        }
    }

    fn inner(&self) -> usize {
        match self {
            Self::Fp32 { inner, .. } => *inner,
            Self::Bf16(matrix) => matrix.inner(),
            Self::Int16(matrix) => matrix.inner(),
        }
    }
}

/// `x W + b` with `W` stored as `[in, out]`.
struct Dense {
    weights: Weights,
    bias: Vec<f32>,
}

impl Dense {
    fn load_tensors(
        vb: &VarBuilder,
        input: usize,
        output: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let weight = vb.get((output, input), "weight")?.t()?.contiguous()?;
        Ok((weight, vb.get(output, "bias")?))
    }

    fn load(
        vb: &VarBuilder,
        input: usize,
        output: usize,
        arithmetic: Arithmetic,
    ) -> candle_core::Result<Self> {
        let (weight, bias) = Self::load_tensors(vb, input, output)?;
        Ok(Self {
            weights: Weights::new(values(&weight)?, input, arithmetic),
            bias: values(&bias)?,
        })
    }

    /// The query, key and value projections as one `[in, 3 * out]` layer.
    fn load_fused(
        vbs: [VarBuilder; 3],
        size: usize,
        arithmetic: Arithmetic,
    ) -> candle_core::Result<Self> {
        let parts = vbs
            .iter()
            .map(|vb| Self::load_tensors(vb, size, size))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let weights: Vec<&Tensor> = parts.iter().map(|(weight, _)| weight).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|(_, bias)| bias).collect();
        Ok(Self {
            weights: Weights::new(values(&Tensor::cat(&weights, 1)?)?, size, arithmetic),
            bias: values(&Tensor::cat(&biases, 0)?)?,
        })
    }

    /// `input W + b`, plus `residual` when given (rows as wide as the output).
    fn forward(&self, input: &[f32], residual: Option<&[f32]>, threads: usize) -> Vec<f32> {
        let width = self.bias.len();
        let tokens = input.len() / self.weights.inner();
        let mut output = self.bias.repeat(tokens);
        if let Some(residual) = residual {
            for (value, &added) in output.iter_mut().zip(residual) {
                *value += added;
            }
        }
        match &self.weights {
            Weights::Fp32 { values, inner } => multiply(
                View::rows(input, *inner),
                View::rows(values, width),
                Output::rows(&mut output, width),
                1.0,
                true,
                threads,
            ),
            Weights::Bf16(matrix) => matrix.multiply_add(input, &mut output, threads),
            Weights::Int16(matrix) => matrix.multiply_add(input, &mut output, threads),
        }
        output
    }
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self {
            weight: values(&vb.get(size, "weight")?)?,
            bias: values(&vb.get(size, "bias")?)?,
            eps: eps as f32,
        })
    }

    fn forward(&self, values: &mut [f32]) {
        layer_norm(values, &self.weight, &self.bias, self.eps);
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
    fn load(
        vb: VarBuilder,
        config: &BertConfig,
        arithmetic: Arithmetic,
    ) -> candle_core::Result<Self> {
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
                arithmetic,
            )?,
            attention_output: Dense::load(
                &attention.pp("output").pp("dense"),
                hidden,
                hidden,
                arithmetic,
            )?,
            attention_norm: LayerNorm::load(
                &attention.pp("output").pp("LayerNorm"),
                hidden,
                config.layer_norm_eps,
            )?,
            intermediate: Dense::load(
                &vb.pp("intermediate").pp("dense"),
                hidden,
                config.intermediate_size,
                arithmetic,
            )?,
            output: Dense::load(
                &vb.pp("output").pp("dense"),
                config.intermediate_size,
                hidden,
                arithmetic,
            )?,
            output_norm: LayerNorm::load(
                &vb.pp("output").pp("LayerNorm"),
                hidden,
                config.layer_norm_eps,
            )?,
        })
    }

    fn forward(&self, hidden: &[f32], shape: &PackedShape, threads: usize) -> Vec<f32> {
        let query_key_value = self.query_key_value.forward(hidden, None, threads);
        let context = packed_attention(
            &query_key_value,
            shape.lengths,
            shape.heads,
            shape.head_size,
        );
        let mut attended = self
            .attention_output
            .forward(&context, Some(hidden), threads);
        self.attention_norm.forward(&mut attended);
        let mut activated = self.intermediate.forward(&attended, None, threads);
        gelu(&mut activated, self.intermediate.bias.len());
        let mut output = self.output.forward(&activated, Some(&attended), threads);
        self.output_norm.forward(&mut output);
        output
    }
}

/// How the packed tokens split into sequences and the hidden state into heads.
struct PackedShape<'a> {
    lengths: &'a [usize],
    heads: usize,
    head_size: usize,
}

/// The encoder: embeddings and the transformer layers.
pub struct BertEncoder {
    word_embeddings: Tensor,
    position_embeddings: Vec<f32>,
    token_type_embedding: Vec<f32>,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
    max_positions: usize,
}

impl BertEncoder {
    /// Loads the weights in `weights` (a safetensors file) for `config`, its dense products
    /// to compute in `arithmetic`.
    pub fn load(
        weights: &Path,
        config: &BertConfig,
        arithmetic: Arithmetic,
    ) -> candle_core::Result<Self> {
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
        let position_embeddings = values(
            &embeddings
                .pp("position_embeddings")
                .get((config.max_position_embeddings, hidden), "weight")?,
        )?;
        let token_type_embedding = values(
            &embeddings
                .pp("token_type_embeddings")
                .get_unchecked("weight")?
                .get(0)?,
        )?;
        let embeddings_norm =
            LayerNorm::load(&embeddings.pp("LayerNorm"), hidden, config.layer_norm_eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp("encoder").pp("layer").pp(index), config, arithmetic))
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

    /// The last hidden state `[tokens, hidden]` of the packed sequences, row after row:
    /// `ids` holds the token ids of every sequence, one after the other, `lengths` how many
    /// each has. Matrix products use `threads` threads of the current rayon pool.
    pub fn forward(
        &self,
        ids: &[u32],
        lengths: &[usize],
        threads: usize,
    ) -> candle_core::Result<Vec<f32>> {
        if let Some(length) = lengths.iter().find(|&&length| length > self.max_positions) {
            candle_core::bail!(
                "a sequence of {length} tokens is longer than the model's {} positions",
                self.max_positions
            );
        }
        let hidden = self.heads * self.head_size;
        // The vocabulary's rows are looked up by candle (its bounds checks name a bad id).
        let words =
            self.word_embeddings
                .embedding(&Tensor::from_slice(ids, ids.len(), &Device::Cpu)?)?;
        let mut state = values(&words)?;
        let positions = lengths.iter().flat_map(|&length| 0..length);
        for (row, position) in state.chunks_exact_mut(hidden).zip(positions) {
            let position_row =
                &self.position_embeddings[position * hidden..(position + 1) * hidden];
            for ((value, &position_value), &type_value) in row
                .iter_mut()
                .zip(position_row)
                .zip(&self.token_type_embedding)
            {
                *value += position_value + type_value;
            }
        }
        self.embeddings_norm.forward(&mut state);
        let shape = PackedShape {
            lengths,
            heads: self.heads,
            head_size: self.head_size,
        };
        for layer in &self.layers {
            state = layer.forward(&state, &shape, threads);
        }
        Ok(state)
    }
}
