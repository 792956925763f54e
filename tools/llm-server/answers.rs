//! What the server answers: chat completions and embeddings derived deterministically
//! from the request (the same request gets the same answer, unless it asks for
//! `temperature > 0` without a `seed`), with `usage` counted by the o200k tokenizer.

use serde_json::{Value, json};

/// Words answers are made of: each one token for o200k with its leading space.
const WORDS: &[&str] = &[
    "alpha", "river", "stone", "light", "green", "table", "cloud", "paper", "music", "north",
    "quiet", "house", "water", "field", "bright", "storm", "glass", "apple", "train", "ocean",
];

/// A prompt containing this makes JSON answers come back malformed, as models sometimes do.
pub const MALFORMED_JSON_MARKER: &str = "[malformed-json]";

/// A stable 64-bit hash (FNV-1a), independent of Rust releases.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The next value of a splitmix64 sequence: well-mixed bits from any state.
pub fn splitmix(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The tokens of `text`.
pub fn tokens(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton()
        .encode_with_special_tokens(text)
        .len() as u64
}

/// The text of a message's `content`: a string, or a list of parts whose `text` parts count.
fn message_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part["type"].as_str() {
                Some("text") => part["text"].as_str().map(str::to_string),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|texts| texts.join("\n")),
        _ => None,
    }
}

/// A chat request, read from its JSON.
#[derive(Debug)]
pub struct Chat {
    pub model: String,
    pub prompt_tokens: u64,
    pub max_tokens: u64,
    seed_hash: u64,
    json_mode: Option<Value>,
    malformed: bool,
}

/// Why a request cannot be served: the status and message.
pub type Refusal = (u16, String);

fn invalid(message: impl Into<String>) -> Refusal {
    (400, message.into())
}

impl Chat {
    /// Reads a `/v1/chat/completions` body; `variation` varies answers of requests that
    /// ask for randomness (`temperature > 0`, no `seed`).
    pub fn parse(body: &Value, default_max_tokens: u64, variation: u64) -> Result<Self, Refusal> {
        let model = body["model"]
            .as_str()
            .ok_or_else(|| invalid("'model' is required"))?
            .to_string();
        let messages = body["messages"]
            .as_array()
            .filter(|messages| !messages.is_empty())
            .ok_or_else(|| invalid("'messages' must be a non-empty array"))?;
        let mut prompt_tokens = 3;
        let mut text = String::new();
        for message in messages {
            let content = message_text(&message["content"]).ok_or_else(|| {
                invalid("every message needs a 'content': a string or a list of text parts")
            })?;
            let content = content.as_str();
            prompt_tokens += 4 + tokens(content);
            text.push_str(message["role"].as_str().unwrap_or("user"));
            text.push('\n');
            text.push_str(content);
            text.push('\n');
        }
        let max_tokens = body["max_completion_tokens"]
            .as_u64()
            .or_else(|| body["max_tokens"].as_u64())
            .unwrap_or(default_max_tokens)
            .max(1);
        let temperature = body["temperature"].as_f64().unwrap_or(1.0);
        let seed = body["seed"].as_i64();
        let mut seed_hash = fnv1a(format!("{model}\n{text}").as_bytes());
        if let Some(seed) = seed {
            seed_hash = splitmix(seed_hash ^ seed as u64);
        } else if temperature > 0.0 {
            seed_hash = splitmix(seed_hash ^ variation);
        }
        let json_mode = match body["response_format"]["type"].as_str() {
            Some("json_schema") => Some(body["response_format"]["json_schema"]["schema"].clone()),
            Some("json_object") => Some(json!({"properties": {"answer": {"type": "string"}}})),
            _ => None,
        };
        Ok(Self {
            model,
            prompt_tokens,
            max_tokens,
            seed_hash,
            json_mode,
            malformed: text.contains(MALFORMED_JSON_MARKER),
        })
    }

    fn word(&self, index: u64) -> &'static str {
        WORDS[(splitmix(self.seed_hash ^ index) % WORDS.len() as u64) as usize]
    }

    /// The answer's text and whether it was cut at `max_tokens`.
    pub fn answer(&self) -> (String, bool) {
        if let Some(schema) = &self.json_mode {
            let mut json = self.json_answer(schema);
            let whole = json.len();
            while tokens(&json) > self.max_tokens {
                let keep = json.floor_char_boundary(json.len() * 3 / 4);
                json.truncate(keep);
            }
            return (json.clone(), json.len() < whole);
        }
        let wanted = 1 + splitmix(self.seed_hash) % 24;
        let mut text = String::new();
        for index in 0..wanted {
            let longer = if text.is_empty() {
                self.word(index).to_string()
            } else {
                format!("{text} {}", self.word(index))
            };
            if tokens(&longer) > self.max_tokens {
                return (text, true);
            }
            text = longer;
        }
        (text, false)
    }

    fn json_answer(&self, schema: &Value) -> String {
        let mut object = serde_json::Map::new();
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (index, (name, property)) in properties.iter().enumerate() {
            let draw = splitmix(self.seed_hash ^ (index as u64 + 101));
            let value = match property["type"].as_str() {
                Some("integer") => json!(draw % 100),
                Some("number") => json!((draw % 10_000) as f64 / 100.0),
                Some("boolean") => json!(draw.is_multiple_of(2)),
                _ => match property["enum"].as_array() {
                    Some(choices) if !choices.is_empty() => {
                        choices[(draw % choices.len() as u64) as usize].clone()
                    }
                    _ => json!(self.word(index as u64)),
                },
            };
            object.insert(name.clone(), value);
        }
        let text = Value::Object(object).to_string();
        if self.malformed {
            text[..text.len() / 2].to_string()
        } else {
            text
        }
    }

    /// The completion's response body.
    pub fn response(&self, id: u64, content: &str, truncated: bool) -> (Value, u64) {
        let completion_tokens = tokens(content);
        let body = json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": if truncated { "length" } else { "stop" },
            }],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": self.prompt_tokens + completion_tokens,
            },
        });
        (body, completion_tokens)
    }
}

/// An embeddings request, read from its JSON.
#[derive(Debug)]
pub struct Embeddings {
    pub model: String,
    pub inputs: Vec<String>,
    pub prompt_tokens: u64,
    dimensions: usize,
}

impl Embeddings {
    /// Reads a `/v1/embeddings` body.
    pub fn parse(
        body: &Value,
        default_dimensions: usize,
        max_inputs: usize,
    ) -> Result<Self, Refusal> {
        let model = body["model"]
            .as_str()
            .ok_or_else(|| invalid("'model' is required"))?
            .to_string();
        let inputs: Vec<String> = match &body["input"] {
            Value::String(text) => vec![text.clone()],
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid("'input' must be a string or an array of strings"))?,
            _ => return Err(invalid("'input' must be a string or an array of strings")),
        };
        if inputs.is_empty() || inputs.len() > max_inputs {
            return Err(invalid(format!(
                "'input' must hold 1 to {max_inputs} strings, got {}",
                inputs.len()
            )));
        }
        if inputs.iter().any(String::is_empty) {
            return Err(invalid("'input' cannot contain an empty string"));
        }
        let dimensions = body["dimensions"]
            .as_u64()
            .map_or(default_dimensions, |d| d as usize)
            .max(1);
        let prompt_tokens = inputs.iter().map(|text| tokens(text)).sum();
        Ok(Self {
            model,
            inputs,
            prompt_tokens,
            dimensions,
        })
    }

    /// A unit vector derived from `text`.
    fn vector(&self, text: &str) -> Vec<f32> {
        let seed = fnv1a(format!("{}\n{text}", self.model).as_bytes());
        let raw: Vec<f64> = (0..self.dimensions as u64)
            .map(|index| (splitmix(seed ^ index) % 2001) as f64 / 1000.0 - 1.0)
            .collect();
        let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-9);
        raw.iter().map(|v| (v / norm) as f32).collect()
    }

    /// The response body.
    pub fn response(&self) -> Value {
        let data: Vec<Value> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": self.vector(text)}))
            .collect();
        json!({
            "object": "list",
            "model": self.model,
            "data": data,
            "usage": {"prompt_tokens": self.prompt_tokens, "total_tokens": self.prompt_tokens},
        })
    }
}
