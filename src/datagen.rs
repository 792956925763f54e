//! The deterministic document generator behind `nodefusion gen-docs`: the same rows and
//! seed always give the same documents (`id`, `title`, `text` of 20 to 4,000 characters
//! with some punctuation, non-Latin words and a few nulls, `category`).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Rows per generated batch and per Parquet row group.
const BATCH_ROWS: usize = 8192;
/// Rows per row group of the generated file.
const ROW_GROUP_ROWS: usize = 65_536;

const WORDS: &[&str] = &[
    "data", "pipeline", "arrow", "column", "batch", "model", "query", "vector", "search", "engine",
    "stream", "record", "function", "node", "parallel", "memory", "disk", "cloud", "river",
    "mountain", "forest", "city", "ocean", "garden", "window", "market", "letter", "music",
    "history", "science", "language", "question", "answer", "system", "network", "signal",
    "energy", "light", "shadow", "winter", "summer", "morning", "evening", "story", "the", "a",
    "of", "and", "to", "in", "is", "that", "for", "with", "on", "as", "by", "it", "from", "at",
    "this", "be", "are", "was", "or", "an", "which", "their", "more", "can", "fast", "slow",
    "large", "small", "quiet", "bright", "ancient", "modern", "simple", "complex", "useful",
    "careful", "strange", "common", "rare", "early", "late", "open", "build", "read", "write",
    "learn", "measure", "compare", "travel", "listen", "follow", "change", "carry", "gather",
    "explain", "improve", "return", "select", "filter", "join",
];

const FOREIGN_WORDS: &[&str] = &[
    "café",
    "naïve",
    "Zürich",
    "Straße",
    "façade",
    "l’été",
    "東京",
    "Москва",
    "αλφάβητο",
    "München",
    "São Paulo",
    "日本語",
    "😀",
    "🚀",
    "“quoted”",
    "déjà vu",
    "Ελλάδα",
    "mañana",
];

const CATEGORIES: &[&str] = &[
    "science",
    "travel",
    "technology",
    "history",
    "sports",
    "music",
    "health",
    "business",
];

/// SplitMix64: small, fast and the same on every platform and version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The schema of generated documents.
pub fn docs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, false),
    ]))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A text of exactly `length` characters: sentences cut where the length is reached.
pub fn text_of_length(rng: &mut SplitMix64, length: usize) -> String {
    let mut text = String::new();
    let mut characters = 0;
    while characters < length {
        let sentence_words = 4 + rng.below(14);
        for position in 0..sentence_words {
            let word = if rng.below(40) == 0 {
                rng.pick(FOREIGN_WORDS)
            } else {
                rng.pick(WORDS)
            };
            let word = if position == 0 {
                capitalized(word)
            } else {
                word.to_string()
            };
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&word);
            if position + 1 < sentence_words && rng.below(9) == 0 {
                text.push(',');
            }
        }
        text.push(match rng.below(10) {
            0 => '!',
            1 => '?',
            _ => '.',
        });
        characters = text.chars().count();
    }
    let mut cut: String = text.chars().take(length).collect();
    if cut.ends_with(char::is_whitespace) {
        cut.pop();
        cut.push('.');
    }
    cut
}

/// Generated documents `first_id..first_id + rows` as one batch, every text `characters`
/// long, or (`None`) 20 to 4,000 characters, most of them short.
pub fn docs_batch(
    rng: &mut SplitMix64,
    first_id: i64,
    rows: usize,
    characters: Option<usize>,
) -> Result<RecordBatch> {
    let mut titles = StringBuilder::new();
    let mut texts = StringBuilder::new();
    let mut categories = StringBuilder::new();
    for _ in 0..rows {
        let title_words = 2 + rng.below(6);
        let title = (0..title_words)
            .map(|_| capitalized(rng.pick(WORDS)))
            .collect::<Vec<_>>()
            .join(" ");
        titles.append_value(title);
        let length = characters.unwrap_or_else(|| 20 + (3980.0 * rng.unit().powi(2)) as usize);
        if rng.below(200) == 0 {
            texts.append_null();
        } else {
            texts.append_value(text_of_length(rng, length));
        }
        categories.append_value(rng.pick(CATEGORIES));
    }
    let ids = Int64Array::from_iter_values(first_id..first_id + rows as i64);
    Ok(RecordBatch::try_new(
        docs_schema(),
        vec![
            Arc::new(ids),
            Arc::new(titles.finish()),
            Arc::new(texts.finish()),
            Arc::new(categories.finish()),
        ],
    )
    .map_err(datafusion::error::DataFusionError::from)?)
}

/// Writes `rows` generated documents from `seed` (texts of `characters`, see
/// [`docs_batch`]) to the Parquet file `output` (zstd, row groups of 65,536 rows), through a
/// temporary file renamed into place.
pub fn write_docs(rows: usize, seed: u64, characters: Option<usize>, output: &Path) -> Result<()> {
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    let temporary = output.with_extension("parquet.partial");
    let file = File::create(&temporary).map_err(Error::io(&temporary))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).map_err(datafusion::error::DataFusionError::from)?,
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let parquet_error =
        |error: datafusion::parquet::errors::ParquetError| Error::DataFusion(error.into());
    let mut writer =
        ArrowWriter::try_new(file, docs_schema(), Some(properties)).map_err(parquet_error)?;
    let mut rng = SplitMix64::new(seed);
    let mut written = 0;
    while written < rows {
        let count = BATCH_ROWS.min(rows - written);
        let batch = docs_batch(&mut rng, written as i64, count, characters)?;
        writer.write(&batch).map_err(parquet_error)?;
        written += count;
    }
    writer.close().map_err(parquet_error)?;
    std::fs::rename(&temporary, output).map_err(Error::io(output))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};

    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_documents_and_another_seed_others() {
        let first = docs_batch(&mut SplitMix64::new(7), 0, 50, None).unwrap();
        let again = docs_batch(&mut SplitMix64::new(7), 0, 50, None).unwrap();
        let other = docs_batch(&mut SplitMix64::new(8), 0, 50, None).unwrap();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn texts_are_between_20_and_4000_characters() {
        let batch = docs_batch(&mut SplitMix64::new(1), 0, 2000, None).unwrap();
        let texts = batch.column(2).as_string::<i32>();
        let lengths: Vec<usize> = texts.iter().flatten().map(|t| t.chars().count()).collect();
        assert!(lengths.iter().all(|&n| (20..=4000).contains(&n)));
        assert!(lengths.iter().any(|&n| n > 2000) && lengths.iter().any(|&n| n < 100));
        assert!(texts.null_count() > 0);
    }

    #[test]
    fn a_set_length_gives_every_text_that_many_characters() {
        let batch = docs_batch(&mut SplitMix64::new(1), 0, 300, Some(200)).unwrap();
        let texts = batch.column(2).as_string::<i32>();
        assert!(texts.iter().flatten().all(|t| t.chars().count() == 200));
    }
}
