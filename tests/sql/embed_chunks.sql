-- embed_chunks through SQL (also under ASan): invariants computed in SQL,
-- composition with embed(), errors. Chunk choices are checked against
-- Hugging Face tokenizers in tests/python/test_chunks.py.
.load ./embed
.mode list
.headers on
INSERT INTO embed_models(name, path) VALUES ('bert', 'models/tiny-bert-F32.gguf');
SELECT n_ctx FROM embed_models WHERE name = 'bert';
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 300)
INSERT INTO docs SELECT 1, group_concat('The cat sat on the mat, unbelievably. Café 日本語!', char(10)) FROM n;
INSERT INTO docs VALUES (2, ''), (3, NULL), (4, 'short text');
-- default window: the model's context; options window with overlap
CREATE TABLE c AS SELECT d.id, c.i, c.start, c."end" AS e, c.text, c.tokens FROM docs d, embed_chunks('bert', d.body) c;
CREATE TABLE o AS SELECT d.id, c.i, c.start, c."end" AS e, c.text, c.tokens
  FROM docs d, embed_chunks('bert', d.body, '{"max_tokens":40,"overlap":8}') c;
SELECT id, count(*) AS chunks, min(start) AS first_start, max(e) = length(CAST(body AS BLOB)) AS covers_all,
       max(tokens) <= 64 AS fits FROM c JOIN docs USING (id) GROUP BY id ORDER BY id;
-- no gaps, and each chunk's text is its byte span (token counts: test_chunks.py, against HF)
SELECT count(*) AS gaps FROM c a JOIN c b ON a.id = b.id AND b.i = a.i + 1 WHERE b.start <> a.e;
SELECT count(*) AS wrong_spans FROM c JOIN docs USING (id)
 WHERE CAST(text AS BLOB) <> substr(CAST(body AS BLOB), start + 1, e - start);
SELECT count(*) > 10 AS many, max(b.tokens) <= 40 AS fits,
       sum(b.start >= a.e OR b.start <= a.start) AS not_overlapping
  FROM o a JOIN o b ON a.id = b.id AND b.i = a.i + 1;
-- composes with embed(): one vector per chunk, equal to embed() of its text
SELECT count(*) AS vectors, sum(embed('bert', text) = embed('bert', CAST(CAST(text AS BLOB) AS TEXT))) AS equal
  FROM c;
-- errors
SELECT * FROM embed_chunks('bert', 'x', '{"max_tokens":2}');
SELECT * FROM embed_chunks('bert', 'x', '{"max_tokens":10,"overlap":8}');
SELECT * FROM embed_chunks('bert', 'x', '{"max_tokens":100}');
SELECT * FROM embed_chunks('bert', 'x', '{"size":10}');
SELECT * FROM embed_chunks('bert', 'x', 'not json');
SELECT * FROM embed_chunks('bert', 42);
SELECT * FROM embed_chunks('nope', 'x');
SELECT * FROM embed_chunks('bert');
SELECT count(*) AS rows_for_null FROM embed_chunks('bert', NULL);
