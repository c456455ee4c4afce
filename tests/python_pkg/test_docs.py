"""The Python snippets of docs/python.md and README.md run as written, with
the installed package, each in a process of its own, in a scratch directory
holding models/all-MiniLM-L6-v2.f16.gguf and the repository's docs/."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MINILM = Path(os.environ["EMBED_FIXTURES_DIR"]) / "models" / "all-MiniLM-L6-v2.f16.gguf"


def block(doc: str, heading: str, lang: str = "python") -> str:
    text = (REPO / doc).read_text()
    m = re.search(rf"#+ {re.escape(heading)}\n.*?```{lang}\n(.*?)```", text, re.S)
    assert m, f"{doc} has no {lang} block under '{heading}'"
    return m.group(1)


@pytest.fixture
def scratch(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / MINILM.name).symlink_to(MINILM)
    (tmp_path / "docs").symlink_to(REPO / "docs")
    return tmp_path


def run(cwd, program):
    p = subprocess.run([sys.executable, "-c", program], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_five_lines(scratch):
    code = block("docs/python.md", "The five lines")
    assert len(code.strip().splitlines()) == 5
    out = run(scratch, code + "print(len(blob), len(vector), vector[0])\n")
    n_bytes, dims, first = out.split()
    assert (int(n_bytes), int(dims)) == (384 * 4, 384) and float(first) != 0.0


def test_readme_shows_the_five_lines():
    assert block("docs/python.md", "The five lines") in (REPO / "README.md").read_text()


def test_apsw_snippet(scratch):
    out = run(scratch, block("docs/python.md", "Pythons that cannot load extensions") + "print(len(blob))\n")
    assert out.strip() == str(384 * 4)


def test_sqlite_vec_snippet(scratch):
    lines = run(scratch, block("docs/python.md", "With sqlite-vec")).splitlines()
    assert len(lines) == 2 and lines[0].endswith("Knead the dough, then let it rise."), lines


def test_long_documents_snippet(scratch):
    out = run(scratch, block("docs/python.md", "Long documents") + "print(best[0], best[1], len(best[2]) > 0)\n")
    doc, i, nonempty = out.split()
    assert doc == "1" and int(i) >= 0 and nonempty == "True"
