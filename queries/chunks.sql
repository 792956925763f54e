-- Split documents into overlapping chunks of at most 120 characters.
CREATE EXTERNAL TABLE docs STORED AS PARQUET LOCATION 'data/docs.parquet';

-- The first two chunks of a few documents: the second repeats the last words of the first.
SELECT id,
       cardinality(chunk_text(text, 120, 30)) AS chunks,
       chunk_text(text, 120, 30)[1] AS first_chunk,
       chunk_text(text, 120, 30)[2] AS second_chunk
FROM docs
WHERE id < 4
ORDER BY id;

-- unnest gives one row per chunk.
SELECT count(DISTINCT id) AS documents, count(*) AS chunks, max(character_length(chunk)) AS longest
FROM (SELECT id, unnest(chunk_text(text, 120, 30)) AS chunk FROM docs);
