-- Errors of the GGUF table-valued functions: each is an SQL error with a
-- specific message, and the shell keeps working afterwards.
.load ./embed
.mode list
SELECT * FROM gguf_tensors;
SELECT * FROM gguf_tensors(NULL);
SELECT * FROM gguf_metadata('no/such/file.gguf');
SELECT * FROM gguf_tensors('data/bert-vocab');
SELECT * FROM gguf_tensors('data/bert-vocab/ggml-vocab-bert-bge.gguf.inp');
-- still alive
SELECT 'alive', embed_version() IS NOT NULL;
-- DIRECTONLY: a view cannot read files through them
CREATE VIEW v AS SELECT * FROM gguf_tensors('data/bert-vocab/ggml-vocab-bert-bge.gguf');
SELECT count(*) FROM v;
