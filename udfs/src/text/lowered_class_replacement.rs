//! [`LoweredClassReplacement`]: `regexp_replace(lower(text), class, replacement, 'g')`, the
//! usual way to normalise text with DataFusion's functions, evaluated in one pass over each
//! row where the two calls make two (a lowercased copy of every row, then the replaced one).
//! It applies where the replacement has a byte table ([`ByteClassReplacement`]) and a row
//! lowercases as ASCII (most rows: no character beyond ASCII with a lowercase of its own);
//! other rows are lowercased first, then replaced, as the two calls do. The answers are the
//! two calls' answers; the expression shows, prints and travels as the two calls. Pipeline
//! nodes and SQL's projections are evaluated with it wherever it applies.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::{CastExpr, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};

use super::byte_class_replacement::ByteClassReplacement;
use super::lower::{Lower, lowercase_into, lowercases_as_ascii};
use super::regexp_replace::RegexpReplace;
use super::rewritten_rows::rewritten_rows;

/// `regexp_replace(lower(text), ...)` evaluated in one pass over each row.
#[derive(Debug)]
pub struct LoweredClassReplacement {
    /// The two calls, as planned: what this expression shows and is compared by.
    calls: Arc<dyn PhysicalExpr>,
    /// `lower`'s argument.
    text: Arc<dyn PhysicalExpr>,
    replacement: ByteClassReplacement,
}

impl LoweredClassReplacement {
    /// `expression` evaluated in one pass where it is `regexp_replace(lower(text), pattern,
    /// replacement[, flags])` (this crate's two functions) with constant pattern, replacement
    /// and flags that have a byte table; `None` for any other expression.
    pub fn fuse(expression: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
        let replace = expression.downcast_ref::<ScalarFunctionExpr>()?;
        if !replace.fun().inner().is::<RegexpReplace>() {
            return None;
        }
        let [lowered, constants @ ..] = replace.args() else {
            return None;
        };
        let lower = lowered.downcast_ref::<ScalarFunctionExpr>()?;
        let [text] = lower.args() else {
            return None;
        };
        if !lower.fun().inner().is::<Lower>() {
            return None;
        }
        let constants = constants
            .iter()
            .map(constant_text)
            .collect::<Option<Vec<String>>>()?;
        let replacement = match constants.as_slice() {
            [pattern, replacement] => ByteClassReplacement::new(pattern, replacement, None),
            [pattern, replacement, flags] => {
                ByteClassReplacement::new(pattern, replacement, Some(flags))
            }
            _ => None,
        }?;
        Some(Arc::new(Self {
            calls: Arc::clone(expression),
            text: Arc::clone(text),
            replacement,
        }))
    }

    /// `expression` with each of its parts that [`Self::fuse`] takes evaluated in one pass,
    /// the rest as it is; `transformed` says whether any part was.
    pub fn fuse_within(expression: &Arc<dyn PhysicalExpr>) -> Transformed<Arc<dyn PhysicalExpr>> {
        Arc::clone(expression)
            .transform_up(|part| {
                Ok(match Self::fuse(&part) {
                    Some(fused) => Transformed::yes(fused),
                    None => Transformed::no(part),
                })
            })
            .unwrap_or_else(|_| Transformed::no(Arc::clone(expression)))
    }
}

/// The text of `expression` when it is a constant: a literal, cast or not.
fn constant_text(expression: &Arc<dyn PhysicalExpr>) -> Option<String> {
    let mut inner = expression;
    while let Some(cast) = inner.downcast_ref::<CastExpr>() {
        inner = cast.expr();
    }
    inner.downcast_ref::<Literal>()?;
    let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
    match expression.evaluate(&empty).ok()? {
        ColumnarValue::Scalar(value) => ScalarValue::try_as_str(&value)
            .flatten()
            .map(str::to_string),
        ColumnarValue::Array(_) => None,
    }
}

impl PartialEq for LoweredClassReplacement {
    fn eq(&self, other: &Self) -> bool {
        self.calls.eq(&other.calls)
    }
}

impl Eq for LoweredClassReplacement {}

impl Hash for LoweredClassReplacement {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.calls.hash(state);
    }
}

impl fmt::Display for LoweredClassReplacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.calls.fmt(f)
    }
}

impl PhysicalExpr for LoweredClassReplacement {
    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        self.calls.return_field(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let text = match self.text.evaluate(batch)? {
            ColumnarValue::Array(text)
                if matches!(
                    text.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                text
            }
            _ => return self.calls.evaluate(batch),
        };
        let mut lowered = Vec::new();
        Ok(ColumnarValue::Array(rewritten_rows(
            "regexp_replace",
            &text,
            |value, out| {
                if lowercases_as_ascii(value) {
                    self.replacement.replace_mapped_into(
                        value.as_bytes(),
                        |byte| byte.to_ascii_lowercase(),
                        out,
                    );
                } else {
                    lowered.clear();
                    lowercase_into(value, &mut lowered);
                    self.replacement.replace_into(&lowered, out);
                }
            },
        )?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.calls]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let [calls] = <[_; 1]>::try_from(children).map_err(|children| {
            datafusion::common::DataFusionError::Internal(format!(
                "a fused regexp_replace(lower(...)) has one child, got {}",
                children.len()
            ))
        })?;
        Ok(Self::fuse(&calls).unwrap_or(calls))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.calls.fmt_sql(f)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, LargeStringArray, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::config::ConfigOptions;
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::physical_expr::expressions::col;

    use super::*;

    /// `regexp_replace(lower(text), pattern, replacement[, flags])` over a batch whose one
    /// column `text` is `text`, constants cast to its type as DataFusion's coercion does.
    fn calls(
        text: &ArrayRef,
        pattern: &str,
        replacement: &str,
        flags: Option<&str>,
    ) -> (Arc<dyn PhysicalExpr>, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "text",
            text.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::clone(text)]).unwrap();
        let options = Arc::new(ConfigOptions::default());
        let constant = |value: &str| -> Arc<dyn PhysicalExpr> {
            Arc::new(CastExpr::new(
                Arc::new(Literal::new(ScalarValue::Utf8(Some(value.to_string())))),
                text.data_type().clone(),
                None,
            ))
        };
        let lower = ScalarFunctionExpr::try_new(
            Arc::new(ScalarUDF::new_from_impl(Lower::new())),
            vec![col("text", &schema).unwrap()],
            &schema,
            Arc::clone(&options),
        )
        .unwrap();
        let mut arguments: Vec<Arc<dyn PhysicalExpr>> =
            vec![Arc::new(lower), constant(pattern), constant(replacement)];
        arguments.extend(flags.map(constant));
        let replace = ScalarFunctionExpr::try_new(
            Arc::new(ScalarUDF::new_from_impl(RegexpReplace::new())),
            arguments,
            &schema,
            options,
        )
        .unwrap();
        (Arc::new(replace), batch)
    }

    #[test]
    fn gives_the_two_calls_answers_for_every_layout_pattern_and_replacement() {
        let texts = [
            Some("Hello, World! 123 -- OK"),
            None,
            Some("Café NAÏVE Zürich 東京 😀 “Quoted” L’Été  \t\nEND"),
            Some(""),
            Some("ΟΔΟΣ ΣΑΣ σ İstanbul \u{212a}elvin ẞ Ǆ"),
            Some("ÀÉÎ ßσς ǅ \u{0}\u{7f}\u{80}\u{10ffff}"),
            Some(",,,,A,,b,"),
        ];
        let layouts: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(texts.to_vec())),
            Arc::new(LargeStringArray::from(texts.to_vec())),
            Arc::new(StringViewArray::from(texts.to_vec())),
            Arc::new(StringViewArray::from(texts.repeat(2)).slice(3, 7)),
        ];
        for text in &layouts {
            for pattern in [
                "[^a-z0-9 ]",
                "[^a-z0-9 ]+",
                "[aeiou,]+",
                ",",
                "[^\\x00-\\x7f]",
            ] {
                for replacement in ["", " ", "<->"] {
                    let (calls, batch) = calls(text, pattern, replacement, Some("g"));
                    let fused = LoweredClassReplacement::fuse(&calls)
                        .unwrap_or_else(|| panic!("{pattern:?} is fused"));
                    let answer = |expression: &Arc<dyn PhysicalExpr>| {
                        expression
                            .evaluate(&batch)
                            .unwrap()
                            .into_array(batch.num_rows())
                            .unwrap()
                    };
                    assert_eq!(
                        &answer(&fused),
                        &answer(&calls),
                        "{pattern:?} -> {replacement:?} in {}",
                        text.data_type()
                    );
                    assert_eq!(fused.to_string(), calls.to_string());
                }
            }
        }
    }

    #[test]
    fn only_a_replacement_with_a_byte_table_of_lowered_text_is_fused() {
        let text: ArrayRef = Arc::new(StringArray::from(vec!["A"]));
        for (pattern, flags) in [("[^a-z]", None), ("[a-z]+?", Some("g")), ("ab", Some("g"))] {
            let (calls, _) = calls(&text, pattern, "", flags);
            assert!(
                LoweredClassReplacement::fuse(&calls).is_none(),
                "{pattern:?}"
            );
        }
        let (calls, _) = calls(&text, "[^a-z]", "", Some("g"));
        let lowered = calls.children()[0];
        assert!(
            LoweredClassReplacement::fuse(lowered).is_none(),
            "lower alone"
        );
        let replace = calls.downcast_ref::<ScalarFunctionExpr>().unwrap();
        let unlowered = Arc::clone(&calls)
            .with_new_children(
                std::iter::once(Arc::clone(lowered.children()[0]))
                    .chain(replace.args()[1..].iter().cloned())
                    .collect(),
            )
            .unwrap();
        assert!(
            LoweredClassReplacement::fuse(&unlowered).is_none(),
            "no lower"
        );
    }
}
