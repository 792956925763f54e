-- Words per category over the normalized texts (documents without text are skipped).
SELECT category,
       count(*) AS documents,
       sum(word_count(normalize_text(text))) AS words,
       round(avg(word_count(normalize_text(text))), 1) AS avg_words
FROM 'data/docs.parquet'
WHERE text IS NOT NULL
GROUP BY category
ORDER BY category;
