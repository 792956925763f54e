//! An `/v1/embeddings` request body read and checked against what the server serves:
//! `input` (a string or an array of strings), `model`, `encoding_format`, `dimensions`,
//! `user` (accepted and ignored). Each refusal names the field and what is wrong with it;
//! token ids (what LangChain sends by default) are refused with how to send text instead.

use serde_json::{Map, Value};

use super::api_error::ApiError;

/// How the vectors are written in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    /// JSON numbers.
    Float,
    /// The little-endian `f32` bytes of each vector, in base64.
    Base64,
}

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    /// The texts, in request order, none empty.
    pub texts: Vec<String>,
    /// How the vectors are written.
    pub format: EncodingFormat,
}

/// What the server serves, which a request is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The model's name (`organisation/name`, or a directory).
    pub model: &'a str,
    /// The length of its vectors.
    pub dimension: usize,
    /// The most texts of one request.
    pub max_inputs: usize,
}

impl Served<'_> {
    /// Whether `name` names the served model: its whole name, or the part after the
    /// organisation (`all-MiniLM-L6-v2`).
    fn is_named(&self, name: &str) -> bool {
        name == self.model || self.model.rsplit('/').next() == Some(name)
    }
}

/// What kind of JSON value `value` is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The refusal of token ids, found at `place`.
fn token_ids(place: &str) -> ApiError {
    ApiError::invalid(
        Some("input"),
        format!(
            "'input' holds token ids ({place}): this server embeds text with its model's own \
             tokenizer and cannot read another tokenizer's ids; send the texts as strings. \
             LangChain's OpenAIEmbeddings sends tiktoken ids by default: create it with \
             check_embedding_ctx_length=False"
        ),
    )
}

/// The texts of `input`.
fn texts(input: Option<&Value>, max_inputs: usize) -> Result<Vec<String>, ApiError> {
    let invalid = |message: String| ApiError::invalid(Some("input"), message);
    let items = match input {
        None | Some(Value::Null) => {
            return Err(invalid(
                "'input' is required: a string or an array of strings".into(),
            ));
        }
        Some(Value::String(text)) if text.is_empty() => {
            return Err(invalid(
                "'input' is an empty string; give text to embed".into(),
            ));
        }
        Some(Value::String(text)) => return Ok(vec![text.clone()]),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(format!(
                "'input' must be a string or an array of strings, got a {}",
                kind(other)
            )));
        }
    };
    if items.is_empty() {
        return Err(invalid(
            "'input' is an empty array; give at least one text".into(),
        ));
    }
    if items.len() > max_inputs {
        return Err(invalid(format!(
            "'input' has {} texts; this server takes at most {max_inputs} per request",
            items.len()
        )));
    }
    if items.iter().all(Value::is_number) {
        return Err(token_ids("'input' is an array of numbers"));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(text) if text.is_empty() => Err(invalid(format!(
                "input[{index}] is an empty string; every input must have text"
            ))),
            Value::String(text) => Ok(text.clone()),
            Value::Array(ids) if !ids.is_empty() && ids.iter().all(Value::is_number) => {
                Err(token_ids(&format!("input[{index}] is an array of numbers")))
            }
            other => Err(invalid(format!(
                "input[{index}] is a {}, not a string",
                kind(other)
            ))),
        })
        .collect()
}

/// The `encoding_format` of `fields`.
fn format(fields: &Map<String, Value>) -> Result<EncodingFormat, ApiError> {
    match fields.get("encoding_format") {
        None | Some(Value::Null) => Ok(EncodingFormat::Float),
        Some(Value::String(word)) if word == "float" => Ok(EncodingFormat::Float),
        Some(Value::String(word)) if word == "base64" => Ok(EncodingFormat::Base64),
        Some(other) => Err(ApiError::invalid(
            Some("encoding_format"),
            format!("'encoding_format' must be \"float\" or \"base64\", got {other}"),
        )),
    }
}

/// Reads and checks the request `body`.
pub fn read_request(body: &[u8], served: &Served<'_>) -> Result<EmbeddingRequest, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::invalid(None, format!("the body is not valid JSON: {error}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::invalid(
            None,
            format!(
                "the body must be a JSON object with 'input' and 'model', got a {}",
                kind(&value)
            ),
        ));
    };
    match fields.get("model") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) if served.is_named(name) => {}
        Some(Value::String(name)) => {
            return Err(ApiError::unknown_model(format!(
                "model '{name}' is not served here; this server serves '{}'",
                served.model
            )));
        }
        Some(other) => {
            return Err(ApiError::invalid(
                Some("model"),
                format!("'model' must be a string, got a {}", kind(other)),
            ));
        }
    }
    let texts = texts(fields.get("input"), served.max_inputs)?;
    let format = format(&fields)?;
    match fields.get("dimensions") {
        None | Some(Value::Null) => {}
        Some(value) if value.as_u64() == Some(served.dimension as u64) => {}
        Some(value) => {
            return Err(ApiError::invalid(
                Some("dimensions"),
                format!(
                    "'dimensions' {value} is not available: '{}' gives vectors of {} dimensions only",
                    served.model, served.dimension
                ),
            ));
        }
    }
    Ok(EmbeddingRequest { texts, format })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVED: Served<'static> = Served {
        model: "sentence-transformers/all-MiniLM-L6-v2",
        dimension: 384,
        max_inputs: 3,
    };

    fn read(body: &str) -> Result<EmbeddingRequest, ApiError> {
        read_request(body.as_bytes(), &SERVED)
    }

    fn refusal(body: &str) -> String {
        let error = read(body).unwrap_err();
        let response = axum::response::IntoResponse::into_response(error);
        format!("{:?}", response.status())
    }

    #[test]
    fn a_string_or_an_array_of_strings_is_read_in_order() {
        assert_eq!(
            read(r#"{"input": "one", "model": "all-MiniLM-L6-v2", "user": "u"}"#).unwrap(),
            EmbeddingRequest {
                texts: vec!["one".into()],
                format: EncodingFormat::Float
            }
        );
        let request = read(
            r#"{"input": ["a", "b"], "model": "sentence-transformers/all-MiniLM-L6-v2",
                "encoding_format": "base64", "dimensions": 384}"#,
        )
        .unwrap();
        assert_eq!(request.texts, vec!["a", "b"]);
        assert_eq!(request.format, EncodingFormat::Base64);
    }

    #[test]
    fn each_refusal_says_what_is_wrong() {
        let message = |body: &str| format!("{:?}", read(body).unwrap_err());
        assert!(message("{\"input\": ").contains("not valid JSON"));
        assert!(message("[1]").contains("must be a JSON object"));
        assert!(message("{}").contains("'input' is required"));
        assert!(message(r#"{"input": ""}"#).contains("'input' is an empty string"));
        assert!(message(r#"{"input": []}"#).contains("empty array"));
        assert!(message(r#"{"input": ["a", ""]}"#).contains("input[1] is an empty string"));
        assert!(message(r#"{"input": ["a", 3]}"#).contains("input[1] is a number"));
        assert!(message(r#"{"input": [[1, 2]]}"#).contains("check_embedding_ctx_length=False"));
        assert!(message(r#"{"input": [1, 2]}"#).contains("token ids"));
        assert!(message(r#"{"input": ["a", "b", "c", "d"]}"#).contains("at most 3 per request"));
        assert!(
            message(r#"{"input": "a", "encoding_format": "int8"}"#)
                .contains("must be \\\"float\\\" or \\\"base64\\\"")
        );
        assert!(
            message(r#"{"input": "a", "dimensions": 256}"#)
                .contains("gives vectors of 384 dimensions only")
        );
        assert!(message(r#"{"input": "a", "model": "gpt-4"}"#).contains("'gpt-4' is not served"));
    }

    #[test]
    fn an_unknown_model_is_a_404_and_a_bad_input_a_400() {
        assert_eq!(refusal(r#"{"input": "a", "model": "m"}"#), "404");
        assert_eq!(refusal(r#"{"input": 5}"#), "400");
    }
}
