//! A sentence-transformers model directory turned into an encoder of texts: the tokenizer
//! (`tokenizer.json`, truncated at `max_seq_length` from `sentence_bert_config.json`), the
//! BERT encoder (`config.json`, `model.safetensors`), the pooling of `1_Pooling/config.json`
//! (CLS, mean, max, mean-sqrt-len, concatenated when several are on) and the L2
//! normalisation that `modules.json` asks for with a `Normalize` module.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::arithmetic::Arithmetic;
use crate::bert::{BertConfig, BertEncoder};
use crate::sentence_tokenizer::SentenceTokenizer;
use crate::{ModelError, Result};

/// The most tokens one forward pass of the encoder takes: large enough for efficient matrix
/// products, small enough that the activations stay in the caches (measured on AMX, AVX-512
/// BF16 and f32 products: the `embed` node 6-22 % faster than in passes of 8,192 tokens, the
/// service at 64 clients 1.2-1.4x, faster than at 2,048 and 4,096 as well).
pub const TOKENS_PER_FORWARD: usize = 1024;

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: usize,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

/// One way of turning a sequence's token vectors into one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    Cls,
    Max,
    Mean,
    MeanSqrtLength,
}

impl PoolingConfig {
    /// The poolings that are on, in the order sentence-transformers concatenates them.
    fn poolings(&self) -> Vec<Pooling> {
        [
            (self.pooling_mode_cls_token, Pooling::Cls),
            (self.pooling_mode_max_tokens, Pooling::Max),
            (self.pooling_mode_mean_tokens, Pooling::Mean),
            (
                self.pooling_mode_mean_sqrt_len_tokens,
                Pooling::MeanSqrtLength,
            ),
        ]
        .into_iter()
        .filter_map(|(on, pooling)| on.then_some(pooling))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
struct ModuleEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// What a model directory says about its sentence-transformers modules.
struct ModelLayout {
    pooling: PoolingConfig,
    normalize: bool,
    max_seq_length: Option<usize>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let failed = |reason: String| ModelError::File {
        path: path.to_path_buf(),
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|error| failed(format!("cannot read: {error}")))?;
    serde_json::from_str(&text).map_err(|error| failed(format!("cannot parse: {error}")))
}

impl ModelLayout {
    fn read(directory: &Path) -> Result<Self> {
        let modules_file = directory.join("modules.json");
        let modules: Vec<ModuleEntry> = if modules_file.is_file() {
            read_json(&modules_file)?
        } else {
            Vec::new()
        };
        let pooling_dir = modules
            .iter()
            .find(|module| module.kind.ends_with(".Pooling"))
            .map_or_else(|| "1_Pooling".to_string(), |module| module.path.clone());
        let pooling_file = directory.join(pooling_dir).join("config.json");
        let pooling: PoolingConfig = read_json(&pooling_file)?;
        if pooling.poolings().is_empty() {
            return Err(ModelError::File {
                path: pooling_file,
                reason: "no pooling mode is on".into(),
            });
        }
        let normalize = modules
            .iter()
            .any(|module| module.kind.ends_with(".Normalize"));
        let bert_config = directory.join("sentence_bert_config.json");
        let max_seq_length = if bert_config.is_file() {
            read_json::<SentenceBertConfig>(&bert_config)?.max_seq_length
        } else {
            None
        };
        Ok(Self {
            pooling,
            normalize,
            max_seq_length,
        })
    }

    fn dimension(&self) -> usize {
        self.pooling.word_embedding_dimension * self.pooling.poolings().len()
    }
}

/// The length of the vectors the model in `directory` produces, read from its configuration
/// without loading it.
pub fn embedding_dimension(directory: &Path) -> Result<usize> {
    Ok(ModelLayout::read(directory)?.dimension())
}

/// A loaded sentence-transformers model, computing on its own pool of threads.
pub struct SentenceEncoder {
    directory: PathBuf,
    threads: usize,
    pool: rayon::ThreadPool,
    tokenizer: SentenceTokenizer,
    encoder: BertEncoder,
    poolings: Vec<Pooling>,
    normalize: bool,
    hidden: usize,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("directory", &self.directory)
            .field("threads", &self.threads)
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl SentenceEncoder {
    /// Loads the model in `directory`, to compute with `threads` threads of its own, its
    /// dense products in `arithmetic`. One instance per core with one thread each scales
    /// better than one instance with every core (no hand-offs between threads inside a
    /// layer), so that is what the `embed` node does by default.
    pub fn load(directory: &Path, threads: usize, arithmetic: Arithmetic) -> Result<Self> {
        let in_model = |error: &dyn std::fmt::Display| ModelError::Model {
            directory: directory.to_path_buf(),
            reason: error.to_string(),
        };
        let layout = ModelLayout::read(directory)?;
        let config: BertConfig = read_json(&directory.join("config.json"))?;
        if layout.pooling.word_embedding_dimension != config.hidden_size {
            return Err(in_model(&format!(
                "pooling expects {} dimensions, the encoder gives {}",
                layout.pooling.word_embedding_dimension, config.hidden_size
            )));
        }
        let max_length = layout
            .max_seq_length
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        let tokenizer = SentenceTokenizer::load(directory, max_length)?;
        if !arithmetic.supported() {
            return Err(in_model(&format!(
                "this CPU cannot compute in {arithmetic} (it lacks {})",
                arithmetic.requirement()
            )));
        }
        let encoder = BertEncoder::load(&directory.join("model.safetensors"), &config, arithmetic)
            .map_err(|error| in_model(&error))?;
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("embed-{index}"))
            .build()
            .map_err(|error| in_model(&error))?;
        Ok(Self {
            directory: directory.to_path_buf(),
            threads,
            pool,
            tokenizer,
            encoder,
            poolings: layout.pooling.poolings(),
            normalize: layout.normalize,
            hidden: config.hidden_size,
        })
    }

    /// The error of this model failing with `error`.
    fn failed(&self, error: &dyn std::fmt::Display) -> ModelError {
        ModelError::Model {
            directory: self.directory.clone(),
            reason: error.to_string(),
        }
    }

    /// The length of the vectors.
    pub fn dimension(&self) -> usize {
        self.hidden * self.poolings.len()
    }

    /// The model's tokenizer, truncating as the model does.
    pub fn tokenizer(&self) -> &SentenceTokenizer {
        &self.tokenizer
    }

    /// The token ids of each text, special tokens included, truncated as the model is.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        self.tokenizer.tokenize(texts)
    }

    /// The vectors of `texts`, one after the other (`texts.len() * dimension()` values).
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<f32>> {
        self.pool.install(|| {
            let tokenized = self.tokenize(texts)?;
            self.encode_tokenized(&tokenized)
        })
    }

    /// The vectors of texts already tokenized by [`Self::tokenizer`] (each sequence with its
    /// special tokens, at most its `max_length` long), one after the other; the sequences
    /// are packed into forward passes of at most [`TOKENS_PER_FORWARD`] tokens.
    pub fn encode_tokenized<S: AsRef<[u32]> + Sync>(&self, sequences: &[S]) -> Result<Vec<f32>> {
        self.pool.install(|| {
            let mut vectors = Vec::with_capacity(sequences.len() * self.dimension());
            let mut start = 0;
            while start < sequences.len() {
                let mut end = start;
                let mut tokens = 0;
                while end < sequences.len()
                    && (end == start
                        || tokens + sequences[end].as_ref().len() <= TOKENS_PER_FORWARD)
                {
                    tokens += sequences[end].as_ref().len();
                    end += 1;
                }
                self.encode_packed(&sequences[start..end], &mut vectors)?;
                start = end;
            }
            Ok(vectors)
        })
    }

    /// Runs the encoder over `sequences` in one pass and appends their pooled vectors.
    fn encode_packed<S: AsRef<[u32]>>(
        &self,
        sequences: &[S],
        vectors: &mut Vec<f32>,
    ) -> Result<()> {
        let lengths: Vec<usize> = sequences.iter().map(|ids| ids.as_ref().len()).collect();
        let ids: Vec<u32> = sequences
            .iter()
            .flat_map(|ids| ids.as_ref().iter().copied())
            .collect();
        let states = self
            .encoder
            .forward(&ids, &lengths, self.threads)
            .map_err(|error| self.failed(&error))?;
        let mut offset = 0;
        for &length in &lengths {
            let tokens = &states[offset * self.hidden..(offset + length) * self.hidden];
            let start = vectors.len();
            for &pooling in &self.poolings {
                pool(tokens, self.hidden, pooling, vectors);
            }
            if self.normalize {
                let vector = &mut vectors[start..];
                let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                vector.iter_mut().for_each(|x| *x /= norm);
            }
            offset += length;
        }
        Ok(())
    }
}

/// Appends the `pooling` of the token vectors `tokens` (`hidden` values per token) to `out`.
fn pool(tokens: &[f32], hidden: usize, pooling: Pooling, out: &mut Vec<f32>) {
    let count = tokens.len() / hidden;
    let start = out.len();
    match pooling {
        Pooling::Cls => out.extend_from_slice(&tokens[..hidden]),
        Pooling::Max => {
            out.extend_from_slice(&tokens[..hidden]);
            for token in tokens.chunks_exact(hidden).skip(1) {
                for (best, &value) in out[start..].iter_mut().zip(token) {
                    *best = best.max(value);
                }
            }
        }
        Pooling::Mean | Pooling::MeanSqrtLength => {
            out.resize(start + hidden, 0.0);
            for token in tokens.chunks_exact(hidden) {
                for (sum, &value) in out[start..].iter_mut().zip(token) {
                    *sum += value;
                }
            }
            let divisor = match pooling {
                Pooling::Mean => count as f32,
                _ => (count as f32).sqrt(),
            };
            out[start..].iter_mut().for_each(|sum| *sum /= divisor);
        }
    }
}
