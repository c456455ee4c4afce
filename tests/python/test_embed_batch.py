"""embed_batch() end to end through the sqlite3 shell: against the numpy
reference forward pass (.ref.bin written by gen_models.py), against per-row
embed() of the same text, ids of every JSON scalar kind, NULL elements, the
errors that name an element, and memory that grows with the input only."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import FIXTURES, run_sql
from refbin import read_refbin

MODELS = FIXTURES / "models"
CASES = ["tiny-bert-F32", "tiny-bert-Q4_K", "tiny-bert-mixed", "tiny-nomic-F16", "tiny-nomic-Q6_K",
         "all-MiniLM-L6-v2.f16", "all-MiniLM-L6-v2.q8_0"]


def sql_str(s) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def register(model):
    return f"INSERT INTO embed_models(name, path) VALUES ('m', {sql_str(MODELS / (model + '.gguf'))}); "


def batch_rows(extension, model, texts, options=None, extra_sql=""):
    opt = f", {sql_str(json.dumps(options))}" if options is not None else ""
    sql = (register(model) + extra_sql +
           f"SELECT i, id, hex(vector) AS v, tokens FROM embed_batch('m', {sql_str(json.dumps(texts))}{opt});")
    rc, out, err = run_sql(extension, sql)
    assert rc == 0, err
    return json.loads(out) if out.strip() else []


def per_row(extension, model, texts, options=None):
    """embed() and embed_token_count() of each text, one call per row."""
    opt = f", {sql_str(json.dumps(options))}" if options is not None else ""
    sql = (register(model) + f"CREATE TABLE t(k INTEGER PRIMARY KEY, body TEXT); "
           f"INSERT INTO t SELECT key, value FROM json_each({sql_str(json.dumps(texts))}); "
           f"SELECT k, hex(embed('m', body{opt})) AS v FROM t ORDER BY k;")
    rc, out, err = run_sql(extension, sql)
    assert rc == 0, err
    return [bytes.fromhex(r["v"]) for r in json.loads(out)]


def vec(hexstr):
    return np.frombuffer(bytes.fromhex(hexstr), dtype="<f4")


def cosine(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("name", CASES)
def test_batch_matches_reference_and_per_row_embed(extension_path, name):
    """Every vector: the numpy reference's (cosine >= 0.99999) and embed()'s
    to float rounding. A batch shares its matrix products between texts, so
    rows may round differently from a text run alone (OpenBLAS picks other
    kernels for a few rows); a one-element batch runs exactly what embed()
    runs and is bit-identical."""
    dims, _, entries = read_refbin(MODELS / f"{name}.ref.bin")
    texts = [e.text for e in entries]
    rows = batch_rows(extension_path, name, texts)
    assert [r["i"] for r in rows] == list(range(len(texts)))
    alone = per_row(extension_path, name, texts)
    identical = 0
    for r, e, want in zip(rows, entries, alone):
        got = vec(r["v"])
        assert len(got) == dims
        assert cosine(got, e.vec) >= 0.99999, (name, e.text[:40])
        w = np.frombuffer(want, dtype="<f4")
        assert np.max(np.abs(got - w)) <= 2e-6, (name, e.text[:40])
        assert r["tokens"] == len(e.ids), (name, e.text[:40])  # the reference's ids are truncated too
        identical += got.tobytes() == want
    print(f"{name}: {identical}/{len(texts)} bit-identical to per-row embed()")
    for text, want in list(zip(texts, alone))[:4]:
        one = batch_rows(extension_path, name, [text])
        assert bytes.fromhex(one[0]["v"]) == want


def test_options_are_embeds(extension_path):
    texts = ["What is TSNE?", "how do I bake bread", "", "a " * 40]
    for options in ({"prefix": "search_query: ", "dims": 32}, {"pooling": "cls", "normalize": False},
                    {"max_tokens": 8}):
        rows = batch_rows(extension_path, "tiny-nomic-F16", texts, options)
        alone = per_row(extension_path, "tiny-nomic-F16", texts, options)
        for r, want in zip(rows, alone):
            w = np.frombuffer(want, dtype="<f4")
            got = vec(r["v"])
            assert len(got) == len(w)
            assert np.max(np.abs(got - w)) <= 2e-6 * max(1.0, float(np.max(np.abs(w))))


def test_ids_of_every_scalar_kind_and_null_elements(extension_path):
    elements = [{"id": 1, "text": "a"}, {"id": -9223372036854775808, "text": "b"}, {"id": 2.5, "text": "c"},
                {"id": "doc-é\"\\\n", "text": "d"}, {"id": True, "text": "e"}, {"id": False, "text": "f"},
                {"id": None, "text": "g"}, {"text": "h"}, "plain", None, {"id": 9, "text": None}, {"id": 1e300, "text": "i"}]
    sql = (register("tiny-bert-F32") +
           f"SELECT i, id, typeof(id) AS t, vector IS NULL AS no_vector, tokens "
           f"FROM embed_batch('m', {sql_str(json.dumps(elements))});")
    rc, out, err = run_sql(extension_path, sql)
    assert rc == 0, err
    rows = json.loads(out)
    assert [(r["id"], r["t"]) for r in rows] == [
        (1, "integer"), (-9223372036854775808, "integer"), (2.5, "real"), ("doc-é\"\\\n", "text"),
        (1, "integer"), (0, "integer"), (None, "null"), (None, "null"), (None, "null"), (None, "null"),
        (9, "integer"), (1e300, "real")]
    assert [r["no_vector"] for r in rows] == [0] * 9 + [1, 1, 0]
    assert rows[9]["tokens"] is None and rows[10]["tokens"] is None


def test_empty_and_non_array_inputs(extension_path):
    assert batch_rows(extension_path, "tiny-bert-F32", []) == []
    for texts, message in (('{"a": 1}', "texts must be a JSON array, got an object"),
                           ('{}', "texts must be a JSON array, got an object"),
                           ('"x"', "texts must be a JSON array, got a string"),
                           ('7', "texts must be a JSON array, got a number"),
                           ('[1, 2', "texts are not valid JSON")):
        rc, _, err = run_sql(extension_path, register("tiny-bert-F32") +
                             f"SELECT * FROM embed_batch('m', {sql_str(texts)});")
        assert rc != 0 and f"embed_batch: {message}" in err, (texts, err)


@pytest.mark.parametrize("bad, message", [
    (42, "got a number"), ([1], "got an array"), (True, "got true"),
    ({"text": 5}, "\"text\" must be a string or null, got a number"),
    ({"id": [1], "text": "x"}, "id must be a number, string, true, false or null, got an array"),
    ({"body": "x"}, "unknown key \"body\""), ({"id": 3}, "the object has no \"text\""),
])
def test_a_bad_element_names_its_index(extension_path, bad, message):
    texts = [f"text {k}" for k in range(30)]
    texts[17] = bad
    rc, _, err = run_sql(extension_path, register("tiny-bert-F32") +
                         f"SELECT count(*) FROM embed_batch('m', {sql_str(json.dumps(texts))});")
    assert rc != 0
    assert err.startswith("Error: stepping, embed_batch: element 17: ") and message in err, err


def test_truncation_off_names_the_element_and_the_count(extension_path):
    texts = ["short"] * 300  # the long one is in the second window
    texts[290] = "word " * 100
    rc, _, err = run_sql(extension_path, register("tiny-bert-F32") +
                         f"SELECT count(*) FROM embed_batch('m', {sql_str(json.dumps(texts))}, '{{\"truncate\":false}}');")
    assert rc != 0
    assert ("embed_batch: element 290: model 'm': the text has 102 tokens (with [CLS] and [SEP]), "
            "maximum 64; truncation is off") in err, err


def _rss(extension, n, embed):
    """Peak resident memory (KiB) of a sqlite3 shell that embeds (or only
    parses) n texts. The shell reads its own VmHWM: rusage of a child forked
    from this Python would start at Python's size."""
    json_sql = (f"(SELECT json_group_array(json_object('id', k, 'text', 'text ' || k)) FROM "
                f"(WITH RECURSIVE c(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM c WHERE k < {n - 1}) SELECT k FROM c))")
    if embed:
        body = f"SELECT count(*) FROM embed_batch('m', {json_sql});"
    else:
        body = f"SELECT count(*) FROM json_each({json_sql});"
    shell = shutil.which("sqlite3")
    p = subprocess.run([shell, "-batch", "-bail", "-init", "/dev/null", ":memory:", f".load {extension}",
                        register("tiny-bert-F32") + body, ".system grep VmHWM /proc/$PPID/status"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")  # the child's line may come first (buffering)
    assert str(n) in lines, p.stdout
    hwm = [line for line in lines if line.startswith("VmHWM:")]
    assert len(hwm) == 1, p.stdout
    return int(hwm[0].split()[1])


def test_memory_grows_with_the_input_only(extension_path):
    """25,000 texts against 5,000: the process grows by about what SQLite's
    own JSON parse of the larger input grows (the argument, its copy for
    json_each and the parse), not by a vector or a token list per text. The
    engine's heap per window is pinned exactly by test_embed_batcher."""
    batch_growth = _rss(extension_path, 25000, True) - _rss(extension_path, 5000, True)
    json_growth = _rss(extension_path, 25000, False) - _rss(extension_path, 5000, False)
    # measured: embed_batch +5.7 MiB, json_each +3.0 MiB; keeping each
    # text's 64 floats and ids alone would add > 6 MiB
    print(f"growth 5,000 -> 25,000 texts: embed_batch {batch_growth} KiB, json_each {json_growth} KiB")
    assert batch_growth <= 2 * json_growth + 2048
