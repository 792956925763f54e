//! The coercion of string arguments, which every function over text shares: any of Arrow's
//! string layouts is taken as it is, and a null literal as `Utf8`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};

/// The type an argument of type `data_type` is taken as where a string is expected, or
/// `None` when it is not a string.
pub fn string_argument_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Null => Some(DataType::Utf8),
        string if string.is_string() => Some(string.clone()),
        _ => None,
    }
}

/// The argument types of `function(names...)`, whose arguments are all strings and whose
/// first `required` arguments must be given: `embed(text [, model])` is
/// `coerce_string_arguments("embed", types, &["text", "model"], 1)`.
pub fn coerce_string_arguments(
    function: &str,
    arg_types: &[DataType],
    names: &[&str],
    required: usize,
) -> Result<Vec<DataType>> {
    if arg_types.len() < required || arg_types.len() > names.len() {
        let (needed, optional) = names.split_at(required.min(names.len()));
        let optional: String = optional.iter().map(|name| format!(" [, {name}]")).collect();
        return plan_err!(
            "{function} takes ({}{optional}), got {} arguments",
            needed.join(", "),
            arg_types.len()
        );
    }
    arg_types
        .iter()
        .zip(names)
        .map(|(data_type, name)| match string_argument_type(data_type) {
            Some(string) => Ok(string),
            None => plan_err!("{function}: {name} must be a string, got {data_type}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_of_every_layout_pass_and_the_rest_is_named() {
        let types = [DataType::Utf8View, DataType::Null];
        assert_eq!(
            coerce_string_arguments("embed", &types, &["text", "model"], 1).unwrap(),
            [DataType::Utf8View, DataType::Utf8]
        );
        let error = coerce_string_arguments("embed", &[DataType::Int64], &["text", "model"], 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("embed: text must be a string, got Int64"),
            "{error}"
        );
        let error = coerce_string_arguments("embed", &[], &["text", "model"], 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("embed takes (text [, model]), got 0 arguments"),
            "{error}"
        );
        let error = coerce_string_arguments("http_get", &types, &["url"], 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("http_get takes (url), got 2 arguments"),
            "{error}"
        );
    }
}
