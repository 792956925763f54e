//! `token_count(text [, model])`: the number of tokens a Hugging Face `tokenizer.json`
//! gives the text, special tokens not counted, no truncation. Stateful: the tokenizer is
//! loaded once per partition.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err, exec_err};
use datafusion::logical_expr::{Documentation, Signature, Volatility};

use nodefusion_function::arrays::StringColumn;
use nodefusion_function::{
    DOC_SECTION_TEXT, FunctionInstance, FunctionMeta, InitOptions, StatefulFunction,
    coerce_string_arguments,
};
use nodefusion_model::{DEFAULT_MODEL, Tokens, resolve};

use crate::model_error::model_error;

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
        coerce_string_arguments(self.name(), arg_types, &["text", "model"], 1)
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
        let tokens = resolve(model)
            .and_then(|directory| Tokens::load(&directory))
            .map_err(|error| model_error(self.name(), error))?;
        Ok(Box::new(TokenCounter { tokens }))
    }
}

struct TokenCounter {
    tokens: Tokens,
}

impl FunctionInstance for TokenCounter {
    fn process(&mut self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let Some(text) = args.first() else {
            return exec_err!("token_count takes (text [, model]), got no arguments");
        };
        let rows = text.len();
        let text = StringColumn::try_new("token_count", text)?;
        let mut counts = Int64Builder::with_capacity(rows);
        for row in 0..rows {
            match text.get(row) {
                Some(value) => {
                    let count = self.tokens.count(value).map_err(|error| {
                        exec_datafusion_err!("token_count failed on row {row}: {error}")
                    })?;
                    counts.append_value(count as i64);
                }
                None => counts.append_null(),
            }
        }
        Ok(Arc::new(counts.finish()))
    }
}
