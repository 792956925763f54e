-- Vector functions against a constant query vector: the nearest points by three measures.
CREATE TABLE points AS
SELECT column1 AS name, arrow_cast(column2, 'FixedSizeList(3, Float32)') AS v
FROM (VALUES ('a', [1.0, 0.0, 0.0]), ('b', [0.0, 1.0, 0.0]), ('c', [1.0, 1.0, 0.0]), ('d', [2.0, 2.0, 1.0]));

SELECT name,
       round(cosine_similarity(v, [1.0, 1.0, 0.0]), 4) AS cosine,
       round(dot_product(v, [1.0, 1.0, 0.0]), 4) AS dot,
       round(l2_distance(v, [1.0, 1.0, 0.0]), 4) AS l2,
       round(vector_norm(v), 4) AS norm
FROM points
ORDER BY cosine DESC, name;
