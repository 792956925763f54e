//! `embed(text [, model])`: the sentence embedding of a text, a `FixedSizeList<Float32, dim>`
//! vector, from a sentence-transformers model (default all-MiniLM-L6-v2) run on candle.
//! Stateful: the model is loaded once per partition. Each distinct text of a batch is
//! embedded once; a null text gives a null vector.

use std::sync::LazyLock;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::{Documentation, Signature, Volatility};

use nodefusion_function::arrays::StringColumn;
use nodefusion_function::{
    DOC_SECTION_EMBEDDING, FunctionInstance, FunctionMeta, InitOptions, StatefulFunction,
    coerce_string_arguments,
};
use nodefusion_model::{Arithmetic, DEFAULT_MODEL, SentenceEncoder, embedding_dimension, resolve};

use super::vectors::{distinct_texts, vector_array, vector_type};
use crate::model_error::model_error;

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_EMBEDDING,
        "The sentence embedding of a text from a sentence-transformers model (a vector of \
         Float32; null for a null text).",
        "embed(text [, model])",
    )
    .with_sql_example(
        "```sql\n> SELECT vector_norm(embed('Hello, world!'));\n+-----+\n| 1.0 |\n+-----+\n```",
    )
    .with_argument("text", "The text to embed; truncated at the model's max_seq_length.")
    .with_argument(
        "model",
        "A model name or model directory (a constant); default sentence-transformers/all-MiniLM-L6-v2.",
    )
    .build()
});

/// The `embed` function.
#[derive(Debug)]
pub struct Embed {
    signature: Signature,
}

impl Embed {
    /// The function, ready to wrap in a node function.
    pub fn new() -> Self {
        Self {
            // Volatile: computed in the node operator, never folded at planning time.
            signature: Signature::user_defined(Volatility::Volatile)
                .with_parameter_names(vec!["text", "model"])
                .expect("user-defined signatures take any parameter names"),
        }
    }
}

impl Default for Embed {
    fn default() -> Self {
        Self::new()
    }
}

/// The model a call names: its second argument, else the default.
fn model_name(model: Option<&ScalarValue>) -> Result<&str> {
    match model {
        None => Ok(DEFAULT_MODEL),
        Some(value) if value.is_null() => Ok(DEFAULT_MODEL),
        Some(value) => match value.try_as_str().flatten() {
            Some(name) => Ok(name),
            None => exec_err!("embed: model must be a string, got {value}"),
        },
    }
}

impl FunctionMeta for Embed {
    fn name(&self) -> &str {
        "embed"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_string_arguments(self.name(), arg_types, &["text", "model"], 1)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.return_type_with_constants(arg_types, &[])
    }

    fn return_type_with_constants(
        &self,
        arg_types: &[DataType],
        constants: &[Option<&ScalarValue>],
    ) -> Result<DataType> {
        if arg_types.len() > 1 && constants.get(1).copied().flatten().is_none() {
            return plan_err!("embed: model must be a constant string, not a column");
        }
        let model = model_name(constants.get(1).copied().flatten())?;
        let dimension = resolve(model)
            .and_then(|directory| embedding_dimension(&directory))
            .map_err(|error| model_error(self.name(), error))?;
        Ok(vector_type(dimension))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }

    fn default_batch_size(&self) -> Option<usize> {
        Some(256)
    }
}

impl StatefulFunction for Embed {
    fn init(&self, options: &InitOptions) -> Result<Box<dyn FunctionInstance>> {
        if options.constants.len() > 1 && options.constant(1).is_none() {
            return exec_err!("embed: model must be a constant string");
        }
        let model = model_name(options.constant(1))?;
        let threads = options.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let arithmetic = match &options.precision {
            None => Arithmetic::fastest(),
            Some(word) => word
                .parse()
                .map_err(|error| exec_datafusion_err!("embed: precision {error}"))?,
        };
        let encoder = resolve(model)
            .and_then(|directory| SentenceEncoder::load(&directory, threads, arithmetic))
            .map_err(|error| model_error(self.name(), error))?;
        Ok(Box::new(Embedder { encoder }))
    }
}

struct Embedder {
    encoder: SentenceEncoder,
}

impl FunctionInstance for Embedder {
    fn process(&mut self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let Some(text) = args.first() else {
            return exec_err!("embed takes (text [, model]), got no arguments");
        };
        let rows = text.len();
        let text = StringColumn::try_new("embed", text)?;
        // Each distinct text is embedded once; `slots` maps every row to its text's vector.
        let (distinct, slots) = distinct_texts(&text, rows, |_| true);
        let dimension = self.encoder.dimension();
        let vectors = self
            .encoder
            .encode(&distinct)
            .map_err(|error| model_error("embed", error))?;
        vector_array(dimension, &slots, &vectors)
    }
}
