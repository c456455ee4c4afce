"""The installed Python package (the wheel built by `pip wheel .`, installed in
a venv of Debian's /usr/bin/python3, whose sqlite3 can load extensions):

* the extension comes from the installed package, not from the repository;
* sqlite3 + sqlite-vec from PyPI: register the converted all-MiniLM-L6-v2,
  index a corpus through the bulk path (embed_batch), KNN through vec0; vec0's distances equal distances computed
  here from the vectors, and the nearest texts are the expected ones;
* errors are sqlite3.OperationalError and the connection stays usable (also
  inside a transaction, which is kept);
* extension loading is off again after load();
* apsw: the same, with apsw's exceptions;
* a binding that cannot load extensions gets LoadExtensionUnsupported.

Run by tests/python_pkg/run.sh (ctest python_package).
"""
import json
import math
import os
import sqlite3
import struct
import sys
from pathlib import Path

import pytest

import sqlite_embed

FIXTURES = Path(os.environ["EMBED_FIXTURES_DIR"])
MINILM = FIXTURES / "models" / "all-MiniLM-L6-v2.f16.gguf"

CORPUS = [
    "Knead the dough for ten minutes, then let it rise in a warm place.",
    "The recipe calls for two cups of flour, three eggs and a pinch of salt.",
    "SQLite is a small, fast, self-contained SQL database engine.",
    "PostgreSQL supports transactions, indexes and complex queries.",
    "The striker scored twice in the second half of the match.",
    "The goalkeeper saved a penalty in the final minute.",
    "A cold front will bring rain and strong winds tomorrow.",
    "Heat waves are becoming more frequent in southern Europe.",
]
QUERIES = {"how do I bake bread": {0, 1}, "database software": {2, 3}, "football game": {4, 5},
           "weather forecast": {6, 7}}


# The registry is process-wide: the first test registers, later ones see it.
REGISTER = ("INSERT INTO embed_models(name, path) SELECT 'minilm', ?1 "
            "WHERE NOT EXISTS (SELECT 1 FROM embed_models WHERE name = 'minilm')")


def floats(blob):
    return struct.unpack(f"<{len(blob) // 4}f", blob)


def l2(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


@pytest.fixture
def db():
    if not MINILM.is_file():
        pytest.fail(f"{MINILM} not generated (ctest runs gen_models first)")
    conn = sqlite3.connect(":memory:", isolation_level=None)  # transactions as written
    sqlite_embed.load(conn)
    conn.execute(REGISTER, (str(MINILM),))
    yield conn
    conn.close()


def test_installed_extension_is_the_packages():
    path = Path(sqlite_embed.loadable_path())
    assert path.is_file() and path.name == "embed.so"
    assert path.parent == Path(sqlite_embed.__file__).parent
    assert "site-packages" in path.parts, path


def test_index_and_knn_with_sqlite_vec(db):
    import sqlite_vec
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    db.enable_load_extension(False)
    db.execute("CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT)")
    db.executemany("INSERT INTO docs(id, body) VALUES (?, ?)", enumerate(CORPUS))
    db.execute("CREATE VIRTUAL TABLE vec_docs USING vec0(embedding float[384])")
    # the bulk path: one statement, the texts as a JSON array of {id, text}
    texts = json.dumps([{"id": i, "text": body} for i, body in db.execute("SELECT id, body FROM docs")])
    db.execute("INSERT INTO vec_docs(rowid, embedding) SELECT id, vector FROM embed_batch('minilm', ?)", (texts,))
    vectors = {i: floats(b) for i, b in db.execute("SELECT rowid, embedding FROM vec_docs")}
    assert sorted(vectors) == list(range(len(CORPUS)))
    # each equals embed() of its text, to float rounding (several texts per matrix product)
    for i, body in enumerate(CORPUS):
        one = floats(db.execute("SELECT embed('minilm', ?)", (body,)).fetchone()[0])
        assert max(abs(a - b) for a, b in zip(one, vectors[i])) < 1e-5
    for query, expected in QUERIES.items():
        q = db.execute("SELECT embed('minilm', ?)", (query,)).fetchone()[0]
        rows = db.execute("SELECT rowid, distance FROM vec_docs WHERE embedding MATCH ? AND k = 2 "
                          "ORDER BY distance", (q,)).fetchall()
        assert {r[0] for r in rows} == expected, (query, rows)
        # vec0's distances and order, recomputed from the stored vectors
        brute = sorted((l2(floats(q), v), i) for i, v in vectors.items())[:2]
        assert [r[0] for r in rows] == [i for _, i in brute]
        for (_, dist), (ref, _) in zip(rows, brute):
            assert dist == pytest.approx(ref, abs=1e-5)


def test_errors_are_operational_errors_and_the_connection_survives(db):
    db.execute("CREATE TABLE t(x)")
    db.execute("BEGIN")
    db.execute("INSERT INTO t VALUES (1)")
    cases = [
        ("SELECT embed('nope', 'x')", "no model named 'nope' is registered"),
        ("SELECT embed('minilm', 'x', '{\"dims\":0}')", "dims"),
        ("SELECT embed('minilm', 42)", "TEXT"),
        ("SELECT * FROM embed_chunks('minilm', 'x', '{\"max_tokens\":2}')", "max_tokens 2, minimum 3"),
        ("INSERT INTO embed_models(name, path) VALUES ('bad', '/nonexistent.gguf')", "nonexistent.gguf"),
    ]
    for sql, msg in cases:
        with pytest.raises(sqlite3.OperationalError, match=msg.replace("(", r"\(").replace("[", r"\[")):
            db.execute(sql).fetchall()
    assert db.in_transaction
    db.execute("INSERT INTO t VALUES (2)")
    db.execute("COMMIT")
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    assert len(db.execute("SELECT embed('minilm', 'still works')").fetchone()[0]) == 384 * 4


def test_extension_loading_is_off_after_load(db):
    import sqlite_vec
    with pytest.raises(sqlite3.OperationalError, match="not authorized"):
        db.load_extension(sqlite_vec.loadable_path())
    with pytest.raises(sqlite3.OperationalError, match="not authorized"):
        db.execute("SELECT load_extension(?)", (sqlite_vec.loadable_path(),)).fetchall()


APSW_PROGRAM = r"""
import sys, apsw, sqlite_embed
conn = apsw.Connection(sys.argv[1])
sqlite_embed.load(conn)
conn.execute("INSERT INTO embed_models(name, path) VALUES ('minilm', ?)", (sys.argv[2],))
vec = conn.execute("SELECT embed('minilm', 'The quick brown fox')").fetchone()[0]
try:
    conn.execute("SELECT embed('nope', 'x')").fetchall()
    sys.exit("no error")
except apsw.SQLError as e:
    assert "no model named 'nope'" in str(e), e
assert conn.execute("SELECT 1").fetchone()[0] == 1
sys.stdout.write(vec.hex())
"""


def test_apsw(tmp_path, db):
    # In a process of its own: apsw brings its own SQLite library, and one
    # process must not load the extension into two SQLite libraries
    # (docs/python.md).
    import subprocess
    p = subprocess.run([sys.executable, "-c", APSW_PROGRAM, str(tmp_path / "a.db"), str(MINILM)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # the same vector as through sqlite3 (same extension, same model)
    assert bytes.fromhex(p.stdout) == db.execute("SELECT embed('minilm', 'The quick brown fox')").fetchone()[0]


def test_binding_without_extension_loading():
    class NoLoading:  # what sqlite3.Connection is on pyenv's default builds
        def execute(self, sql):
            raise AssertionError("not reached")

    with pytest.raises(sqlite_embed.LoadExtensionUnsupported) as e:
        sqlite_embed.load(NoLoading())
    msg = str(e.value)
    assert "has no enable_load_extension" in msg and "pip install apsw" in msg
    assert "--enable-loadable-sqlite-extensions" in msg


def test_python_is_debians():
    # the venv's sqlite3 really can load extensions (the point of this suite)
    assert hasattr(sqlite3.Connection, "enable_load_extension"), sys.executable
