-- embed(), embed_json(), the registry, options and their errors, on the
-- tiny generated models. Vector values are checked against numpy in
-- tests/python/test_embed_sql.py; this script pins behaviour and messages.
.load ./embed
.mode list
.headers on
-- no model yet
SELECT embed('hello');
SELECT embed(NULL) IS NULL AS null_in_null_out;
INSERT INTO embed_models(name, path) VALUES ('bert', 'models/tiny-bert-F32.gguf');
INSERT INTO embed_models(name, path) VALUES ('nomic', 'models/tiny-nomic-Q4_K.gguf');
SELECT name, path, arch, n_embd, n_layer, n_ctx, n_vocab, pooling, loaded FROM embed_models;
-- registering loads and validates the file and keeps it for the first embed() (mapped, no weight read)
SELECT length(embed('hello world')) AS bytes_default_model, length(embed('nomic', 'hello')) AS bytes_nomic;
SELECT name, loaded FROM embed_models;
SELECT embed_unload('nomic') AS was_loaded, embed_unload('nomic') AS again;
SELECT name, loaded FROM embed_models;
-- unit length, self-similarity 1, different texts differ
SELECT round(embed_similarity(embed('bert', 'a cat'), embed('bert', 'a cat')), 6) AS self,
       embed_similarity(embed('bert', 'a cat'), embed('bert', 'stock market')) < 0.9999 AS differs;
SELECT (SELECT round(sum(value * value), 5) FROM json_each(embed_json('bert', 'unit norm'))) AS norm2;
-- NULL model = default; NULL text = NULL
SELECT embed(NULL, 'x') = embed('bert', 'x') AS null_model_is_default, embed('bert', NULL) IS NULL AS null_text;
-- tokenizer functions: model first, as embed(); one argument (or a NULL model) = the default model
SELECT embed_tokenize('bert', 'Hello world') AS ids_named,
       embed_tokenize('Hello world') = embed_tokenize('bert', 'Hello world') AS one_arg_is_default,
       embed_tokenize(NULL, 'Hello world') = embed_tokenize('Hello world') AS null_model_is_default;
SELECT embed_token_count('Hello world') AS n_default, embed_token_count('bert', 'Hello world') AS n_named;
SELECT (SELECT count(*) FROM embed_tokens('Hello world')) AS rows_default,
       (SELECT count(*) FROM embed_tokens('bert', 'Hello world')) AS rows_named,
       (SELECT count(*) FROM embed_tokens(NULL, 'Hello world')) AS rows_null_model,
       (SELECT count(*) FROM embed_tokens WHERE text = 'Hello world') AS rows_where_text;
SELECT group_concat(piece, ' ') AS pieces FROM embed_tokens('bert', 'Hello world');
-- options
SELECT json_array_length(embed_json('nomic', 'hello', '{"dims":64}')) AS dims64;
SELECT embed('nomic', 'What is TSNE?', '{"prefix":"search_query: "}') = embed('nomic', 'search_query: What is TSNE?') AS prefix_ok;
SELECT embed('bert', 'x', '{"pooling":"cls"}') <> embed('bert', 'x') AS cls_differs_from_mean;
SELECT embed('bert', 'x', '{}') = embed('bert', 'x') AS empty_options;
SELECT embed('bert', 'x', NULL) = embed('bert', 'x') AS null_options;
-- truncation: the tiny bert has a 64-token context
SELECT embed_token_count('bert', replace(hex(zeroblob(100)), '0', 'word ')) AS tokens;
SELECT length(embed('bert', replace(hex(zeroblob(100)), '0', 'word '))) AS truncated_by_default;
SELECT embed('bert', replace(hex(zeroblob(100)), '0', 'word '), '{"truncate":false}');
SELECT length(embed('bert', replace(hex(zeroblob(100)), '0', 'word '), '{"max_tokens":16}')) AS max_tokens_16;
-- errors
SELECT embed('nope', 'x');
SELECT embed(42);
SELECT embed('bert', x'00ff');
SELECT embed(1, 'x');
SELECT embed('bert', 'x', '{"dims":0}');
SELECT embed('bert', 'x', '{"dims":999}');
SELECT embed('bert', 'x', '{"colour":"red"}');
SELECT embed('bert', 'x', '[1,2]');
SELECT embed('bert', 'x', '{bad json');
SELECT embed('bert', 'x', '{"pooling":"max"}');
SELECT embed('bert', 'x', '{"normalize":"yes"}');
SELECT embed('bert', 'x', '{"max_tokens":1000}');
INSERT INTO embed_models(name, path) VALUES ('bert', 'models/tiny-bert-F16.gguf');
INSERT INTO embed_models(name, path) VALUES ('vocab', 'data/bert-vocab/ggml-vocab-bert-bge.gguf');
INSERT INTO embed_models(name, path) VALUES ('missing', 'models/no-such.gguf');
INSERT INTO embed_models(name, path, arch) VALUES ('x', 'models/tiny-bert-F16.gguf', 'bert');
INSERT INTO embed_models(name) VALUES ('nopath');
UPDATE embed_models SET path = 'y' WHERE name = 'bert';
SELECT embed_similarity(x'0000803f', x'0000803f00000000');
SELECT embed_similarity(x'00', x'00');
-- unregister
DELETE FROM embed_models WHERE name = 'bert';
SELECT name FROM embed_models;
SELECT length(embed('x')) AS default_is_now_nomic;
DELETE FROM embed_models;
SELECT count(*) AS remaining FROM embed_models;
SELECT embed('x');
-- tokenizer functions with a path (vocab-only file) and with a name
SELECT embed_tokenize('data/bert-vocab/ggml-vocab-bert-bge.gguf', 'Hello, world! [SEP]') AS ids;
SELECT i, id, piece, start, "end" FROM embed_tokens('data/bert-vocab/ggml-vocab-bert-bge.gguf', 'Naïve café');
SELECT embed_tokenize('no/such/model', 'x');
SELECT embed_token_count('data/bert-vocab/ggml-vocab-bert-bge.gguf', NULL) IS NULL AS null_count;
SELECT * FROM embed_tokens;
-- the functions that touch files or process state are DIRECTONLY
CREATE VIEW v AS SELECT embed_tokenize('data/bert-vocab/ggml-vocab-bert-bge.gguf', 'x') AS t;
SELECT * FROM v;
-- inputs over the size limits are refused with a message (regression: the
-- message used %zu, which SQLite's printf reads as %z and crashed the host)
INSERT INTO embed_models(name, path) VALUES ('big', 'models/tiny-bert-F32.gguf');
SELECT embed('big', CAST(zeroblob(17000000) AS TEXT));
SELECT embed_token_count('big', CAST(zeroblob(70000000) AS TEXT));
SELECT count(*) FROM embed_tokens('big', CAST(zeroblob(70000000) AS TEXT));
SELECT 'still alive';
-- embed_threads: whole numbers only (a whole REAL is fine: drivers bind JS numbers as REAL)
SELECT embed_threads(1) AS one, embed_threads(2.0) AS two_real;
SELECT embed_threads(1.5);
SELECT embed_threads(1e300);
SELECT embed_threads(0);
SELECT embed_threads('2');
