//! `token_count(text [, model])`: the number of tokens a Hugging Face `tokenizer.json`
//! gives the text, special tokens not counted, no truncation. Stateful: the tokenizer is
//! loaded once per partition.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err, exec_err};
use datafusion::logical_expr::{Documentation, Signature, Volatility};
use tokenizers::Tokenizer;

use crate::arrays::StringColumn;
use crate::function::{
    DOC_SECTION_TEXT, FunctionInstance, FunctionMeta, InitOptions, StatefulFunction,
};
use crate::models::{DEFAULT_MODEL, coerce_text_and_model, resolve};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_TEXT,
        "Counts the tokens a model's tokenizer gives a text (special tokens not counted, no \
         truncation).",
        "token_count(text [, model])",
    )
    .with_sql_example(
        "```sql\n> SELECT token_count('Hello, world!');\n+---+\n| 4 |\n+---+\n```",
    )
    .with_argument("text", "The text to tokenize.")
    .with_argument(
        "model",
        "A model name or model directory (a constant); default sentence-transformers/all-MiniLM-L6-v2.",
    )
    .build()
});

/// The `token_count` function.
#[derive(Debug)]
pub struct TokenCount {
    signature: Signature,
}

impl TokenCount {
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

impl Default for TokenCount {
    fn default() -> Self {
        Self::new()
    }
}

impl FunctionMeta for TokenCount {
    fn name(&self) -> &str {
        "token_count"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_text_and_model(self.name(), arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

impl StatefulFunction for TokenCount {
    fn init(&self, options: &InitOptions) -> Result<Box<dyn FunctionInstance>> {
        if options.constants.len() > 1 && options.string(1).is_none() {
            return exec_err!("token_count: model must be a constant string");
        }
        let model = options.string(1).unwrap_or(DEFAULT_MODEL);
        let file = resolve(model)?.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&file).map_err(|error| {
            exec_datafusion_err!("token_count: cannot load {}: {error}", file.display())
        })?;
        tokenizer
            .with_truncation(None)
            .map_err(|error| exec_datafusion_err!("token_count: {error}"))?;
        tokenizer.with_padding(None);
        Ok(Box::new(TokenCounter { tokenizer }))
    }
}

struct TokenCounter {
    tokenizer: Tokenizer,
}

impl FunctionInstance for TokenCounter {
    fn process(&mut self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let text = StringColumn::try_new("token_count", &args[0])?;
        let mut counts = Int64Builder::with_capacity(args[0].len());
        for row in 0..args[0].len() {
            match text.get(row) {
                Some(value) => {
                    let encoding = self.tokenizer.encode_fast(value, false).map_err(|error| {
                        exec_datafusion_err!("token_count failed on row {row}: {error}")
                    })?;
                    counts.append_value(encoding.len() as i64);
                }
                None => counts.append_null(),
            }
        }
        Ok(Arc::new(counts.finish()))
    }
}
