"""The SQL snippets of the documentation run as written (sqlite3 shell, in a
scratch directory laid out like the repository: build/embed.so, models/ with
the converted all-MiniLM-L6-v2, the repository's README.md and docs/)."""
import re
import shutil
import subprocess

import pytest

from conftest import FIXTURES, REPO

MINILM_F16 = FIXTURES / "models" / "all-MiniLM-L6-v2.f16.gguf"


def snippet(doc: str, heading: str, lang: str) -> str:
    text = (REPO / doc).read_text()
    m = re.search(rf"## {re.escape(heading)}\n.*?```{lang}\n(.*?)```", text, re.S)
    assert m, f"{doc} has no {lang} block under '## {heading}'"
    return m.group(1)


@pytest.fixture
def scratch(tmp_path, extension_path):
    if not MINILM_F16.is_file():
        pytest.skip(f"{MINILM_F16} not generated (gen_models --minilm)")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "embed.so").symlink_to(extension_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / MINILM_F16.name).symlink_to(MINILM_F16)
    (tmp_path / "README.md").symlink_to(REPO / "README.md")
    (tmp_path / "docs").symlink_to(REPO / "docs")
    return tmp_path


def run_shell(cwd, sql):
    p = subprocess.run([shutil.which("sqlite3"), "-batch", "-bail", "-init", "/dev/null", "-json", ":memory:"],
                       input=sql, capture_output=True, text=True, cwd=cwd)
    assert p.returncode == 0 and not p.stderr, p.stderr
    return p.stdout


def test_chunking_snippet(scratch):
    import json
    out = run_shell(scratch, snippet("docs/chunking.md", "Indexing long documents", "sql"))
    rows = json.loads(out)
    assert len(rows) == 3
    # the question is about docs/quant.md's subject
    assert rows[0]["doc"] == 2, rows


def test_readme_long_documents_snippet(scratch):
    import json
    text = (REPO / "README.md").read_text()
    m = re.search(r"### Long documents\n.*?```sql\n(.*?)```", text, re.S)
    assert m, "README.md has no sql block under '### Long documents'"
    setup = (".load ./build/embed\n"
             "INSERT INTO embed_models(name, path) VALUES ('minilm', 'models/all-MiniLM-L6-v2.f16.gguf');\n"
             "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);\n"
             "INSERT INTO docs(body) VALUES (CAST(readfile('docs/fuzzing.md') AS TEXT)), ('A short one.');\n")
    out = run_shell(scratch, setup + m.group(1) +
                    "SELECT doc, count(*) AS n, sum(length(vec)) AS bytes FROM chunks GROUP BY doc ORDER BY doc;\n")
    rows = json.loads(out)
    assert rows[0]["doc"] == 1 and rows[0]["n"] > 1 and rows[1] == {"doc": 2, "n": 1, "bytes": 384 * 4}


def test_chunking_with_the_bulk_path_snippet(scratch):
    import json
    rows = json.loads(run_shell(scratch, snippet("docs/chunking.md", "With the bulk path", "sql")))
    assert rows[0]["chunks"] > 3 and rows[0]["vectors"] == rows[0]["chunks"], rows
