-- gguf_tensors / gguf_metadata on the real bert-base-uncased vocab-only GGUF.
.load ./embed
.mode list
.headers on
SELECT count(*) AS n_tensors FROM gguf_tensors('data/bert-vocab/ggml-vocab-bert-bge.gguf');
SELECT key, type, n_elements,
       CASE WHEN type LIKE 'ARRAY%' THEN json_array_length(value) ELSE value END AS value_or_preview_len
  FROM gguf_metadata('data/bert-vocab/ggml-vocab-bert-bge.gguf');
SELECT json_extract(value, '$[0]') AS first, json_extract(value, '$[15]') AS sixteenth
  FROM gguf_metadata('data/bert-vocab/ggml-vocab-bert-bge.gguf') WHERE key = 'tokenizer.ggml.tokens';
-- the path is echoed in the hidden column
SELECT DISTINCT path FROM gguf_metadata WHERE path = 'data/bert-vocab/ggml-vocab-bert-bge.gguf';
