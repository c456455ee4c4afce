"""The .ref.bin golden format shared with tests/unit/test_forward_golden.c.

Little-endian:
    char   magic[8] = "EMBREF1\\0"
    uint32 n_texts, dims, pooling (1 mean, 2 cls), reserved (0)
    n_texts times:
        uint32 text_len; uint8 text[text_len]     (UTF-8, no NUL)
        uint32 n_tokens; int32 ids[n_tokens]       ([CLS] ... [SEP], truncated)
        float32 vec[dims]                          (pooled, L2-normalized)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"EMBREF1\0"


@dataclass
class RefEntry:
    text: str
    ids: list[int]
    vec: np.ndarray  # float32 (dims,)


def write_refbin(path: str | Path, dims: int, pooling: int, entries: list[RefEntry]) -> None:
    out = bytearray(MAGIC)
    out += struct.pack("<4I", len(entries), dims, pooling, 0)
    for e in entries:
        raw = e.text.encode("utf-8")
        vec = np.asarray(e.vec, dtype="<f4")
        if vec.shape != (dims,):
            raise ValueError(f"vector of shape {vec.shape}, expected ({dims},)")
        out += struct.pack("<I", len(raw)) + raw
        out += struct.pack("<I", len(e.ids)) + np.asarray(e.ids, dtype="<i4").tobytes()
        out += vec.tobytes()
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(bytes(out))
    tmp.replace(path)


def read_refbin(path: str | Path) -> tuple[int, int, list[RefEntry]]:
    """Returns (dims, pooling, entries); raises ValueError on a malformed file."""
    b = Path(path).read_bytes()
    if b[:8] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    n, dims, pooling, reserved = struct.unpack_from("<4I", b, 8)
    if reserved != 0:
        raise ValueError(f"{path}: reserved field is {reserved}")
    off = 24
    entries = []
    for _ in range(n):
        (tl,) = struct.unpack_from("<I", b, off)
        off += 4
        text = b[off:off + tl].decode("utf-8")
        off += tl
        (nt,) = struct.unpack_from("<I", b, off)
        off += 4
        ids = np.frombuffer(b, dtype="<i4", count=nt, offset=off).tolist()
        off += 4 * nt
        vec = np.frombuffer(b, dtype="<f4", count=dims, offset=off).copy()
        off += 4 * dims
        entries.append(RefEntry(text, ids, vec))
    if off != len(b):
        raise ValueError(f"{path}: {len(b) - off} trailing bytes")
    return dims, pooling, entries
