//! Token counts for rate-limit estimates: the o200k tokenizer of OpenAI's current models
//! (through `tiktoken-rs`), an upper bound close enough for other providers' models, since
//! the limiter settles every call with the usage the service reports.

/// The tokens of `text`.
pub fn count_tokens(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton()
        .encode_with_special_tokens(text)
        .len() as u64
}
