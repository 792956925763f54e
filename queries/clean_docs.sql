-- Normalize the sample documents and count their words, straight from the Parquet file.
SELECT id,
       category,
       word_count(text) AS raw_words,
       word_count(normalize_text(text)) AS clean_words,
       substr(normalize_text(text), 1, 48) AS clean_start
FROM 'data/docs.parquet'
ORDER BY id
LIMIT 8;
