-- The retrieval pipeline of SEEDS.md section 1: embed passages and queries with
-- all-MiniLM-L6-v2, retrieve the 3 nearest passages of every query with top_k (one matrix
-- product per block of queries, not one call per pair), then measure recall@3 against exact
-- search (every query-passage pair scored with cosine_similarity and ranked) and how often
-- the passage a query was cut from comes first.
CREATE EXTERNAL TABLE docs STORED AS PARQUET LOCATION 'data/docs.parquet';

CREATE TABLE passages AS
SELECT id, embed(substr(text, 1, 400)) AS embedding
FROM docs
WHERE id < 150;

-- A query is 80 characters from the middle of a passage.
CREATE TABLE queries AS
SELECT id AS source, embed(substr(text, 150, 80)) AS embedding
FROM docs
WHERE id < 150 AND id % 10 = 0 AND character_length(text) > 300;

CREATE TABLE retrieved AS
SELECT * FROM top_k('passages', 'embedding', 'queries', 'embedding', 3, 'id', 'source');

CREATE TABLE exact AS
SELECT query_id, passage_id
FROM (SELECT q.source AS query_id, p.id AS passage_id,
             row_number() OVER (PARTITION BY q.source
                                ORDER BY cosine_similarity(q.embedding, p.embedding) DESC, p.id) AS rank
      FROM queries q CROSS JOIN passages p)
WHERE rank <= 3;

SELECT query_id, passage_id, rank, round(score, 2) AS score
FROM retrieved
ORDER BY query_id, rank
LIMIT 6;

SELECT (SELECT count(*) FROM queries) AS queries,
       (SELECT count(*) FROM retrieved) AS retrieved,
       round((SELECT count(*) FROM retrieved JOIN exact USING (query_id, passage_id))
             / (SELECT count(*) FROM exact)::double, 3) AS recall_at_3_vs_exact,
       round((SELECT count(*) FROM retrieved WHERE rank = 1 AND query_id = passage_id)
             / (SELECT count(*) FROM queries)::double, 3) AS source_ranked_first;
