"""pytest setup for tests/python: import paths, where the build, the
generated fixtures and the committed test data (tests/data) are, shared fixtures."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for p in (HERE, REPO / "tools"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import pytest  # noqa: E402

TEST_DATA = REPO / "tests" / "data"
BUILD = Path(os.environ.get("EMBED_BUILD_DIR", REPO / "build"))
FIXTURES = Path(os.environ.get("EMBED_FIXTURES_DIR", BUILD / "fixtures"))


@pytest.fixture(scope="session")
def extension_path():
    so = BUILD / "embed.so"
    if not so.exists():
        pytest.fail(f"{so} not built: run cmake --build build first")
    return so


def run_sql(extension, sql, *, json_mode=True, cwd=None, env=None):
    """Run SQL in a fresh sqlite3 shell with the extension loaded.
    Returns (returncode, stdout, stderr)."""
    shell = shutil.which("sqlite3")
    assert shell, "the sqlite3 shell is required"
    args = [shell, "-batch", "-bail", "-init", "/dev/null"]
    if json_mode:
        args.append("-json")
    args += [":memory:", f".load {extension}", sql]
    p = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="session")
def vocab_path() -> Path:
    from gen_models import default_vocab
    p = default_vocab()
    if not p.is_file():
        pytest.fail(f"vocabulary fixture {p} not found")
    return p


@pytest.fixture(scope="session")
def vocab(vocab_path):
    from gguf_vocab import load_gguf_vocab
    return load_gguf_vocab(vocab_path)


@pytest.fixture(scope="session")
def tokenizer(vocab):
    from hf_tokenize import HfWordPiece
    return HfWordPiece(vocab)
