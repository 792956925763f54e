//! The answer of `/v1/embeddings` in OpenAI's shape: `{"object":"list","data":[{"object":
//! "embedding","index":i,"embedding":...}],"model":...,"usage":{"prompt_tokens":n,
//! "total_tokens":n}}`, each vector as JSON numbers or, for `encoding_format: base64`, as
//! the base64 of its little-endian `f32` bytes (what the OpenAI clients decode).

use base64::Engine as _;
use serde::Serialize;

use super::request::EncodingFormat;

#[derive(Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Float(&'a [f32]),
    Base64(String),
}

#[derive(Serialize)]
struct Item<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Item<'a>>,
    model: &'a str,
    usage: Usage,
}

/// `vector` as base64 of its little-endian bytes.
fn base64_of(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The JSON answer: the vectors of the request's texts (`vectors`, `dimension` values each,
/// in request order), written as `format` says, from `model`, with `tokens` embedded.
pub fn embedding_list(
    vectors: &[f32],
    dimension: usize,
    format: EncodingFormat,
    model: &str,
    tokens: usize,
) -> Vec<u8> {
    let data = vectors
        .chunks_exact(dimension)
        .enumerate()
        .map(|(index, vector)| Item {
            object: "embedding",
            index,
            embedding: match format {
                EncodingFormat::Float => Vector::Float(vector),
                EncodingFormat::Base64 => Vector::Base64(base64_of(vector)),
            },
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model,
        usage: Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    serde_json::to_vec(&list).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_numbers_or_little_endian_base64_in_request_order() {
        let vectors = [1.0, -2.5, 0.0, 0.5];
        let float = embedding_list(&vectors, 2, EncodingFormat::Float, "m", 7);
        assert_eq!(
            String::from_utf8(float).unwrap(),
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0,-2.5]},{"object":"embedding","index":1,"embedding":[0.0,0.5]}],"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}"#
        );
        let base64: serde_json::Value =
            serde_json::from_slice(&embedding_list(&vectors, 2, EncodingFormat::Base64, "m", 7))
                .unwrap();
        // 1.0 is 00 00 80 3f and -2.5 is 00 00 20 c0 in little-endian order.
        assert_eq!(base64["data"][0]["embedding"], "AACAPwAAIMA=");
    }
}
