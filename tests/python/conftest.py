"""pytest setup for tests/python: import paths, shared fixtures."""

import os
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


@pytest.fixture(scope="session")
def vocab_path() -> Path:
    from gen_models import default_vocab
    p = default_vocab()
    if not p.is_file():
        pytest.fail(f"vocabulary fixture {p} not found (set EMBED_SHARED_DIR)")
    return p


@pytest.fixture(scope="session")
def vocab(vocab_path):
    from gguf_vocab import load_gguf_vocab
    return load_gguf_vocab(vocab_path)


@pytest.fixture(scope="session")
def tokenizer(vocab):
    from hf_tokenize import HfWordPiece
    return HfWordPiece(vocab)
