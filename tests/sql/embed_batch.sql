-- embed_batch(): rows, ids, NULLs, options, errors, triggers, on the tiny
-- generated models. Vectors are compared with per-row embed() and with the
-- numpy reference in tests/python/test_embed_batch.py; this script pins
-- behaviour and messages.
.load ./embed
.mode list
.headers on
-- no model yet
SELECT * FROM embed_batch('["x"]');
INSERT INTO embed_models(name, path) VALUES ('bert', 'models/tiny-bert-F32.gguf');
INSERT INTO embed_models(name, path) VALUES ('nomic', 'models/tiny-nomic-Q4_K.gguf');
-- one row per element, in input order; ids of every JSON scalar kind
SELECT i, id, typeof(id) AS id_type, length(vector) AS bytes, tokens
  FROM embed_batch('bert', '["hello world", {"id": 7, "text": "the cat"}, null, {"id": "doc-9", "text": null},
                             {"id": 1.5, "text": "a"}, {"id": true, "text": ""}, {"id": false, "text": "b"},
                             {"id": null, "text": "c"}, {"text": "no id"}, {"id": -9007199254740993, "text": "d"}]');
-- the vector is embed()'s; tokens are embed_token_count()'s after truncation
SELECT count(*) AS n, sum(abs(embed_similarity(vector, embed('bert', t.value)) - 1) < 1e-6) AS same_as_embed,
       sum(tokens = min(embed_token_count(t.value), 64)) AS tokens_ok
  FROM embed_batch('bert', (SELECT json_group_array(value) FROM json_each('["one", "two words", "a much longer text with many words in it"]'))) b
  JOIN json_each('["one", "two words", "a much longer text with many words in it"]') t ON t.key = b.i;
-- one argument: the default model (the first registered); NULL model too
SELECT (SELECT vector FROM embed_batch('["x"]')) = embed('bert', 'x') AS one_arg,
       (SELECT vector FROM embed_batch(NULL, '["x"]')) = embed('bert', 'x') AS null_model;
-- options as embed(): prefix, dims, pooling
SELECT vector = embed('nomic', 'What is TSNE?', '{"prefix":"search_query: ","dims":32}') AS options_ok, length(vector) AS bytes
  FROM embed_batch('nomic', '["What is TSNE?"]', '{"prefix":"search_query: ","dims":32}');
-- truncation as embed(): by default to the context, errors when off
SELECT tokens FROM embed_batch('bert', json_array(replace(hex(zeroblob(100)), '0', 'word ')));
SELECT tokens FROM embed_batch('bert', json_array(replace(hex(zeroblob(100)), '0', 'word ')), '{"max_tokens":16}');
SELECT i FROM embed_batch('bert', json_array('ok', 'fine', replace(hex(zeroblob(100)), '0', 'word ')), '{"truncate":false}');
-- empty array, NULL texts: no rows
SELECT count(*) AS empty FROM embed_batch('bert', '[]');
SELECT count(*) AS null_texts FROM embed_batch('bert', NULL);
-- ORDER BY i is the natural order
SELECT group_concat(i) AS order_i FROM (SELECT i FROM embed_batch('bert', '["c", "b", "a"]') ORDER BY i);
-- one statement indexes a table
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs VALUES (10, 'cats purr'), (20, NULL), (30, 'stocks fell'), (40, 'dogs bark');
CREATE TABLE vecs(id INTEGER PRIMARY KEY, embedding BLOB);
INSERT INTO vecs(id, embedding)
  SELECT id, vector FROM embed_batch('bert', (SELECT json_group_array(json_object('id', id, 'text', body)) FROM docs))
   WHERE vector IS NOT NULL;
-- (equal to embed() to float rounding: a short text alone runs other BLAS kernels)
SELECT v.id, abs(embed_similarity(v.embedding, embed('bert', d.body)) - 1) < 1e-6 AS same FROM vecs v JOIN docs d USING (id) ORDER BY v.id;
-- usable in triggers and views, as embed() is
CREATE TABLE inbox(id INTEGER PRIMARY KEY, texts TEXT);
CREATE TRIGGER inbox_embed AFTER INSERT ON inbox BEGIN
  INSERT INTO vecs(id, embedding) SELECT 1000 * NEW.id + i, vector FROM embed_batch('bert', NEW.texts);
END;
INSERT INTO inbox VALUES (1, '["first", "second"]');
SELECT id, length(embedding) AS bytes FROM vecs WHERE id >= 1000 ORDER BY id;
CREATE VIEW batch_view AS SELECT i, tokens FROM embed_batch('bert', '["in a view"]');
SELECT * FROM batch_view;
-- errors name the element
SELECT * FROM embed_batch('bert', '["ok", 42]');
SELECT * FROM embed_batch('bert', '["ok", ["nested"]]');
SELECT * FROM embed_batch('bert', '[true]');
SELECT * FROM embed_batch('bert', '[{"txt": "typo"}]');
SELECT * FROM embed_batch('bert', '[{"id": 1}]');
SELECT * FROM embed_batch('bert', '[{"id": [1], "text": "a"}]');
SELECT * FROM embed_batch('bert', '[{"id": {"a": 1}, "text": "a"}]');
SELECT * FROM embed_batch('bert', '[{"text": 5}]');
SELECT * FROM embed_batch('bert', '[{"text": "a", "text": "b"}]');
SELECT * FROM embed_batch('bert', json_array('ok', replace(hex(zeroblob(8500000)), '0', 'a')));
-- errors about the whole call
SELECT * FROM embed_batch('bert', '{"text": "not an array"}');
SELECT * FROM embed_batch('bert', '"a string"');
SELECT * FROM embed_batch('bert', '[bad json');
SELECT * FROM embed_batch('bert', x'5b5d');
SELECT * FROM embed_batch('bert', 42);
SELECT * FROM embed_batch(1, '["x"]');
SELECT * FROM embed_batch('nope', '["x"]');
SELECT * FROM embed_batch('bert', '["x"]', '{"dims":999}');
SELECT * FROM embed_batch('bert', '["x"]', '{"colour":"red"}');
SELECT * FROM embed_batch('bert', '["x"]', '{"max_tokens":1000}');
SELECT * FROM embed_batch('bert', '["x"]', '[1]');
SELECT * FROM embed_batch;
-- eponymous only
CREATE VIRTUAL TABLE b USING embed_batch;
SELECT 'still alive';
