"""gguf_tensors() / gguf_metadata() agree exactly with an independent reader,
the PyPI gguf package's GGUFReader, on every GGUF file the tests have: the
real vocab-only file from tests/data and every file the fixture generators
wrote into the build directory."""
import json

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType

from conftest import BUILD, FIXTURES, TEST_DATA, run_sql

VOCAB = TEST_DATA / "bert-vocab" / "ggml-vocab-bert-bge.gguf"
PREVIEW = 16  # gguf_metadata lists the first 16 elements of an array


def gguf_files():
    files = [VOCAB]
    for d in (BUILD / "gguf_samples" / "gguf", FIXTURES / "models"):
        if d.is_dir():
            files += sorted(d.glob("*.gguf"))
    return files


def sql_literal(path):
    return "'" + str(path).replace("'", "''") + "'"


def query(extension, sql):
    rc, out, err = run_sql(extension, sql)
    assert rc == 0, f"sqlite3 failed: {err}"
    return json.loads(out) if out.strip() else []


@pytest.mark.parametrize("path", gguf_files(), ids=lambda p: p.name)
def test_tensors_match_gguf_reader(extension_path, path):
    reader = GGUFReader(path)
    rows = query(extension_path,
                 f"SELECT name, type, n_dims, ne0, ne1, ne2, ne3, shape, n_elements, n_bytes, offset "
                 f"FROM gguf_tensors({sql_literal(path)})")
    assert len(rows) == len(reader.tensors)
    for row, t in zip(rows, reader.tensors):
        dims = [int(d) for d in t.shape]
        ne = dims + [1] * (4 - len(dims))
        expected = {
            "name": t.name, "type": t.tensor_type.name, "n_dims": len(dims),
            "ne0": ne[0], "ne1": ne[1], "ne2": ne[2], "ne3": ne[3],
            "shape": json.dumps(dims, separators=(",", ":")),
            "n_elements": int(t.n_elements), "n_bytes": int(t.n_bytes), "offset": int(t.data_offset),
        }
        assert row == expected, f"tensor {t.name}"


def reader_scalar(field, vtype, index=None):
    part = field.parts[field.data[0 if index is None else index]]
    if vtype == GGUFValueType.STRING:
        return bytes(part).decode("utf-8", errors="replace")
    value = part[0].item()
    if vtype == GGUFValueType.BOOL:
        return bool(value)
    return value


def same_number(got, want, vtype):
    if vtype == GGUFValueType.FLOAT32:
        return np.float32(got) == np.float32(want) or (np.isnan(want) and got is None)
    if vtype == GGUFValueType.FLOAT64:
        return got == want or (np.isnan(want) and got is None)
    return got == want


@pytest.mark.parametrize("path", gguf_files(), ids=lambda p: p.name)
def test_metadata_matches_gguf_reader(extension_path, path):
    reader = GGUFReader(path)
    fields = [f for f in reader.fields.values() if not f.name.startswith("GGUF.")]
    rows = query(extension_path,
                 f"SELECT key, type, value, n_elements FROM gguf_metadata({sql_literal(path)})")
    assert [r["key"] for r in rows] == [f.name for f in fields]
    for row, f in zip(rows, fields):
        main = f.types[0]
        if main == GGUFValueType.ARRAY:
            sub = f.types[-1]
            assert row["type"] == f"ARRAY[{sub.name}]", f.name
            assert row["n_elements"] == len(f.data), f.name
            got = json.loads(row["value"])
            assert len(got) == min(PREVIEW, len(f.data)), f.name
            for i, g in enumerate(got):
                want = reader_scalar(f, sub, i)
                if sub == GGUFValueType.STRING:
                    assert g == want, (f.name, i)
                else:
                    assert same_number(g, want, sub), (f.name, i, g, want)
        else:
            assert row["type"] == main.name, f.name
            assert row["n_elements"] == 1
            want = reader_scalar(f, main)
            if main == GGUFValueType.STRING:
                assert row["value"] == want, f.name
            elif main == GGUFValueType.BOOL:
                assert row["value"] == int(want), f.name
            elif main == GGUFValueType.UINT64 and want > 2**63 - 1:
                assert row["value"] == str(want), f.name
            else:
                assert same_number(row["value"], want, main), (f.name, row["value"], want)


def test_vocab_file_shape(extension_path):
    """The real vocab file: no tensors, 20 keys, 30522 tokens."""
    rows = query(extension_path,
                 f"SELECT (SELECT count(*) FROM gguf_tensors({sql_literal(VOCAB)})) AS n_tensors,"
                 f" (SELECT count(*) FROM gguf_metadata({sql_literal(VOCAB)})) AS n_keys,"
                 f" (SELECT n_elements FROM gguf_metadata({sql_literal(VOCAB)})"
                 f"   WHERE key = 'tokenizer.ggml.tokens') AS n_tokens")
    assert rows == [{"n_tensors": 0, "n_keys": 20, "n_tokens": 30522}]
