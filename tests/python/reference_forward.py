"""Independent numpy reference of the `bert` and `nomic-bert` encoders (docs/format.md §6, §7).

Reads a GGUF with gguf-py (GGUFReader), dequantizes every weight with
gguf.quants.dequantize and runs the forward pass in float64 with Hugging Face
semantics (project policy): exact erf GELU, post-norm layers, nomic SwiGLU
with SiLU on ffn_gate (HF fc12), fused QKV split Q|K|V, NEOX RoPE with the
base from the file; MEAN pooling over all tokens including [CLS]/[SEP], CLS
pooling = raw hidden state of token 0; then L2 normalization.

Nothing here is shared with the C engine; golden files (.ref.bin) are made
from this module by gen_models.py.

CLI: python3 reference_forward.py MODEL.gguf "text" ...  prints the first
values of each normalized embedding.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import gguf

from gguf_vocab import open_gguf

POOLING_MEAN = 1
POOLING_CLS = 2

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (HF "gelu")."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Per row (token); population variance."""
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Hparams:
    arch: str
    n_vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    n_ff: int
    n_ctx: int
    eps: float
    rope_base: float
    n_rot: int
    pooling: int | None


class GgufModel:
    """Hyper-parameters and dequantized weights of one GGUF file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.reader = open_gguf(path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        self._cache: dict[str, np.ndarray] = {}
        arch = self._kv("general.architecture")
        if arch not in ("bert", "nomic-bert"):
            raise ValueError(f"{path}: architecture {arch!r} is not bert or nomic-bert")
        n_embd = int(self._kv(f"{arch}.embedding_length"))
        n_head = int(self._kv(f"{arch}.attention.head_count"))
        pooling = self._kv(f"{arch}.pooling_type", None)
        self.hp = Hparams(
            arch=arch,
            n_vocab=int(self.tensors["token_embd.weight"].shape[1]),
            n_embd=n_embd,
            n_layer=int(self._kv(f"{arch}.block_count")),
            n_head=n_head,
            n_ff=int(self._kv(f"{arch}.feed_forward_length")),
            n_ctx=int(self._kv(f"{arch}.context_length")),
            eps=float(self._kv(f"{arch}.attention.layer_norm_epsilon")),
            rope_base=float(self._kv(f"{arch}.rope.freq_base", 10000.0)),
            n_rot=int(self._kv(f"{arch}.rope.dimension_count", n_embd // n_head)),
            pooling=None if pooling is None else int(pooling),
        )

    def _kv(self, key: str, default: object = KeyError):
        f = self.reader.fields.get(key)
        if f is None:
            if default is KeyError:
                raise KeyError(f"{self.path}: missing key {key}")
            return default
        return f.contents()

    def weight(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Dequantized tensor as float64, numpy shape (ne1, ne0) or (ne0,).

        rows: only these rows of a 2-D tensor (embedding look-up; rows are
        quantized independently, docs/format.md §1.4).
        """
        t = self.tensors.get(name)
        if t is None:
            raise KeyError(f"{self.path}: missing tensor {name}")
        ne = [int(x) for x in t.shape]
        if rows is not None:
            data = np.asarray(t.data).reshape(ne[1], -1)[rows]
            out = gguf.quants.dequantize(data, t.tensor_type)
            return np.asarray(out, dtype=np.float64).reshape(len(rows), ne[0])
        if name not in self._cache:
            out = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
            self._cache[name] = np.asarray(out, dtype=np.float64).reshape(tuple(reversed(ne)))
        return self._cache[name]

    def has(self, name: str) -> bool:
        return name in self.tensors


def _linear(m: GgufModel, name: str, x: np.ndarray) -> np.ndarray:
    """x: (T, n_in); weight ne = [n_in, n_out] = row-major (n_out, n_in)."""
    y = x @ m.weight(f"{name}.weight").T
    if m.has(f"{name}.bias"):
        y = y + m.weight(f"{name}.bias")
    return y


def _norm(m: GgufModel, name: str, x: np.ndarray) -> np.ndarray:
    return layer_norm(x, m.weight(f"{name}.weight"), m.weight(f"{name}.bias"), m.hp.eps)


def rope_neox(x: np.ndarray, base: float, n_rot: int) -> np.ndarray:
    """x: (H, T, D); rotate pairs (i, i + n_rot/2) by angle p * base^(-2i/n_rot)."""
    T = x.shape[1]
    half = n_rot // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None, :]  # (T, half)
    c, s = np.cos(ang), np.sin(ang)
    x0, x1 = x[..., :half], x[..., half:n_rot]
    out = x.copy()
    out[..., :half] = x0 * c - x1 * s
    out[..., half:n_rot] = x0 * s + x1 * c
    return out


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, hp: Hparams, rope: bool) -> np.ndarray:
    """q, k, v: (T, E) -> (T, E); heads are contiguous column blocks."""
    T, E = q.shape
    H, D = hp.n_head, E // hp.n_head
    qh = q.reshape(T, H, D).transpose(1, 0, 2)
    kh = k.reshape(T, H, D).transpose(1, 0, 2)
    vh = v.reshape(T, H, D).transpose(1, 0, 2)
    if rope:
        qh = rope_neox(qh, hp.rope_base, hp.n_rot)
        kh = rope_neox(kh, hp.rope_base, hp.n_rot)
    p = softmax(qh @ kh.transpose(0, 2, 1) / math.sqrt(D))
    return (p @ vh).transpose(1, 0, 2).reshape(T, E)


def forward(m: GgufModel, ids: list[int]) -> np.ndarray:
    """Final hidden states (T, E) float64 for one sequence of token ids."""
    hp = m.hp
    ids_a = np.asarray(ids, dtype=np.int64)
    if ids_a.size == 0 or ids_a.min() < 0 or ids_a.max() >= hp.n_vocab:
        raise ValueError("token ids out of range")
    T = ids_a.size
    x = m.weight("token_embd.weight", rows=ids_a) + m.weight("token_types.weight")[0]
    if hp.arch == "bert":
        if T > hp.n_ctx:
            raise ValueError(f"{T} tokens exceed context {hp.n_ctx}")
        x = x + m.weight("position_embd.weight")[:T]
    x = _norm(m, "token_embd_norm", x)
    E = hp.n_embd
    for i in range(hp.n_layer):
        b = f"blk.{i}"
        if hp.arch == "bert":
            q = _linear(m, f"{b}.attn_q", x)
            k = _linear(m, f"{b}.attn_k", x)
            v = _linear(m, f"{b}.attn_v", x)
            a = _attention(q, k, v, hp, rope=False)
        else:
            qkv = _linear(m, f"{b}.attn_qkv", x)
            a = _attention(qkv[:, :E], qkv[:, E:2 * E], qkv[:, 2 * E:3 * E], hp, rope=True)
        a = _linear(m, f"{b}.attn_output", a)
        h1 = _norm(m, f"{b}.attn_output_norm", a + x)
        if hp.arch == "bert":
            f = _linear(m, f"{b}.ffn_down", gelu_erf(_linear(m, f"{b}.ffn_up", h1)))
        else:
            g = silu(_linear(m, f"{b}.ffn_gate", h1))
            f = _linear(m, f"{b}.ffn_down", g * _linear(m, f"{b}.ffn_up", h1))
        x = _norm(m, f"{b}.layer_output_norm", f + h1)
    return x


def pool(h: np.ndarray, pooling: int) -> np.ndarray:
    if pooling == POOLING_MEAN:
        return h.mean(axis=0)
    if pooling == POOLING_CLS:
        return h[0]
    raise ValueError(f"pooling type {pooling} is not MEAN (1) or CLS (2)")


def l2_normalize(v: np.ndarray) -> np.ndarray:
    n = np.sqrt(np.sum(v * v))
    return v / n if n > 0 else v


def embed(m: GgufModel, ids: list[int], pooling: int | None = None) -> np.ndarray:
    """Pooled (file's pooling unless given), L2-normalized embedding, float64."""
    p = pooling if pooling is not None else m.hp.pooling
    if p is None:
        raise ValueError(f"{m.path}: no pooling_type in file and none given")
    return l2_normalize(pool(forward(m, ids), p))


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    from hf_tokenize import from_gguf
    m = GgufModel(argv[1])
    tok = from_gguf(argv[1])
    for text in argv[2:]:
        ids = tok.encode(text, m.hp.n_ctx)
        v = embed(m, ids)
        print(len(ids), np.array2string(v[:8], precision=5))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
