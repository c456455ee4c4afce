"""The WordPiece vocabulary of a GGUF file (docs/format.md §3.2, §5.1), read with gguf-py.

GgufVocab holds the token strings in GGUF phantom-space form, their
token_type values and the special ids with llama.cpp's defaults.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import gguf.gguf_reader as _gguf_reader
from gguf import GGUFReader

PHANTOM = "\u2581"  # '▁', marks a word-initial piece in GGUF vocabularies

# key suffix (tokenizer.ggml.<x>_token_id) -> default when absent (docs/format.md §3.2)
SPECIAL_DEFAULTS = {"bos": 101, "seperator": 102, "unknown": 100, "padding": 0, "mask": 103}


@dataclass
class GgufVocab:
    tokens: list[str]
    token_types: list[int]
    special: dict[str, int] = field(default_factory=dict)  # keys of SPECIAL_DEFAULTS
    pre: str = "default"
    token_type_count: int = 2

    @property
    def cls_id(self) -> int:
        return self.special["bos"]

    @property
    def sep_id(self) -> int:
        return self.special["seperator"]

    @property
    def unk_id(self) -> int:
        return self.special["unknown"]


class _NumpyReadingWholeFiles:
    """numpy, except that memmap(path) reads the file into a plain array."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def memmap(path, mode="r"):
        return np.fromfile(path, dtype=np.uint8)


_open_lock = threading.Lock()


def open_gguf(path: str | Path) -> GGUFReader:
    """gguf.GGUFReader over an in-memory copy of the file.

    GGUFReader slices its np.memmap once per key, string and array element;
    numpy.memmap's Python-level __array_finalize__ made that ~1-2 s per file
    for a 30522-token vocabulary. Over a plain array the same parser is ~3x
    faster, which is most of gen_models.py's run time. The swap is scoped to
    the constructor and falls back to the unmodified reader if gguf-py's
    module layout changes. The data are identical either way.
    """
    if getattr(_gguf_reader, "np", None) is not np:
        return GGUFReader(str(path))
    with _open_lock:
        _gguf_reader.np = _NumpyReadingWholeFiles()
        try:
            return GGUFReader(str(path))
        finally:
            _gguf_reader.np = np


def field_value(reader: GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def load_gguf_vocab(path: str | Path, reader: GGUFReader | None = None) -> GgufVocab:
    """Vocabulary of a GGUF file (pass its reader if it is already open)."""
    r = reader if reader is not None else open_gguf(path)
    model = field_value(r, "tokenizer.ggml.model")
    if model != "bert":
        raise ValueError(f"{path}: tokenizer.ggml.model is {model!r}, expected 'bert'")
    tokens = field_value(r, "tokenizer.ggml.tokens")
    if not tokens:
        raise ValueError(f"{path}: no tokenizer.ggml.tokens")
    types = field_value(r, "tokenizer.ggml.token_type")
    if types is None:
        types = [1] * len(tokens)
    special = {}
    for k, dflt in SPECIAL_DEFAULTS.items():
        v = field_value(r, f"tokenizer.ggml.{k}_token_id")
        special[k] = int(v) if v is not None and int(v) < len(tokens) else dflt
    return GgufVocab(
        tokens=list(tokens),
        token_types=[int(t) for t in types],
        special=special,
        pre=field_value(r, "tokenizer.ggml.pre", "default"),
        token_type_count=int(field_value(r, "tokenizer.ggml.token_type_count", 2)),
    )


def gguf_to_hf_token(t: str) -> str:
    """Undo the converter's phantom-space rewrite (docs/format.md §5.1)."""
    if t.startswith("[") and t.endswith("]"):
        return t
    if t.startswith(PHANTOM):
        return t[len(PHANTOM):]
    return "##" + t


def hf_to_gguf_token(t: str) -> str:
    """The converter's rewrite of one HF WordPiece token (docs/format.md §5.1)."""
    if t.startswith("[") and t.endswith("]"):
        return t
    if t.startswith("##"):
        return t[2:]
    return PHANTOM + t


def write_vocab(writer, vocab: GgufVocab) -> None:
    """Tokenizer keys as tools/convert_hf_to_gguf.py writes them (docs/format.md §3.2)."""
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(np.asarray(vocab.token_types, dtype=np.int32).tolist())
    writer.add_token_type_count(vocab.token_type_count)
    writer.add_bos_token_id(vocab.special["bos"])       # [CLS]
    writer.add_eos_token_id(vocab.special["seperator"])  # [SEP], as gguf-py's SpecialVocab
    writer.add_unk_token_id(vocab.special["unknown"])
    writer.add_sep_token_id(vocab.special["seperator"])
    writer.add_pad_token_id(vocab.special["padding"])
    writer.add_mask_token_id(vocab.special["mask"])
