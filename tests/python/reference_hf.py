"""numpy forward of BertModel and NomicBertModel straight from a Hugging Face checkpoint.

Reads model.safetensors with its HF tensor names and config.json, and follows
the HF modeling code (transformers' BertModel; nomic-ai's
modeling_hf_nomic_bert.py: Wqkv split "(three h d)", rotate_half rotary with
inv_freq = 1 / base^(arange(0, D, 2) / D), NomciBertGatedMLP
fc2(fc11(x) * silu(fc12(x))), post-norm blocks) plus the sentence-transformers
Pooling (+ Normalize) modules. It shares no code with reference_forward.py
or the converter: agreement between "GGUF via converter + reference_forward"
and "safetensors via this module" validates the tensor mapping, the
quantization and both references at once.

Everything is float64; token ids come in (see hf_tokenize.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.var(x, axis=-1, keepdims=True)
    return (x - mean) * (1.0 / np.sqrt(var + eps)) * w + b


class HfModel:
    """A BertModel / NomicBertModel checkpoint directory loaded as float64 arrays."""

    def __init__(self, model_dir: str | Path):
        self.dir = Path(model_dir)
        self.config = json.loads((self.dir / "config.json").read_text())
        raw = load_file(str(self.dir / "model.safetensors"))
        self.w = {}
        for k, v in raw.items():
            if k.startswith("bert."):
                k = k[5:]
            self.w[k] = v.astype(np.float64)
        archs = self.config.get("architectures") or []
        self.nomic = "NomicBertModel" in archs or self.config.get("model_type") == "nomic_bert"
        self.pooling = self._pooling()

    def _pooling(self) -> str | None:
        p = self.dir / "modules.json"
        if not p.is_file():
            return None
        for mod in json.loads(p.read_text()):
            if mod["type"].endswith("Pooling"):
                cfg = json.loads((self.dir / mod["path"] / "config.json").read_text())
                if cfg.get("pooling_mode_mean_tokens"):
                    return "mean"
                if cfg.get("pooling_mode_cls_token"):
                    return "cls"
        return None

    def _dense(self, prefix: str, x: np.ndarray) -> np.ndarray:
        y = np.einsum("ti,oi->to", x, self.w[prefix + ".weight"])
        b = self.w.get(prefix + ".bias")
        return y if b is None else y + b

    def _ln(self, prefix: str, x: np.ndarray, eps: float) -> np.ndarray:
        return _layer_norm(x, self.w[prefix + ".weight"], self.w[prefix + ".bias"], eps)

    @staticmethod
    def _sdpa(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """q, k, v: (T, H, D) -> context (T, H*D)."""
        T, H, D = q.shape
        scores = np.einsum("thd,shd->hts", q, k) / math.sqrt(D)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        return np.einsum("hts,shd->thd", probs, v).reshape(T, H * D)

    def hidden_states(self, ids: list[int]) -> np.ndarray:
        return self._nomic(ids) if self.nomic else self._bert(ids)

    def _bert(self, ids: list[int]) -> np.ndarray:
        c, w = self.config, self.w
        eps = c.get("layer_norm_eps", 1e-12)
        H = c["num_attention_heads"]
        T = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.token_type_embeddings.weight"][np.zeros(T, dtype=np.int64)]
             + w["embeddings.position_embeddings.weight"][np.arange(T)])
        x = self._ln("embeddings.LayerNorm", x, eps)
        for i in range(c["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            split = lambda y: y.reshape(T, H, -1)  # noqa: E731
            ctx = self._sdpa(split(self._dense(p + "attention.self.query", x)),
                             split(self._dense(p + "attention.self.key", x)),
                             split(self._dense(p + "attention.self.value", x)))
            a = self._ln(p + "attention.output.LayerNorm", self._dense(p + "attention.output.dense", ctx) + x, eps)
            inter = self._dense(p + "intermediate.dense", a)
            inter = inter * 0.5 * (1.0 + _erf(inter / math.sqrt(2.0)))
            x = self._ln(p + "output.LayerNorm", self._dense(p + "output.dense", inter) + a, eps)
        return x

    def _nomic(self, ids: list[int]) -> np.ndarray:
        c, w = self.config, self.w
        eps = c.get("layer_norm_epsilon", 1e-12)
        H = c["n_head"]
        E = c["n_embd"]
        D = E // H
        T = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
        x = self._ln("emb_ln", x, eps)
        inv_freq = 1.0 / (float(c.get("rotary_emb_base", 10000)) ** (np.arange(0, D, 2, dtype=np.float64) / D))
        freqs = np.outer(np.arange(T, dtype=np.float64), inv_freq)          # (T, D/2)
        cos = np.concatenate([np.cos(freqs)] * 2, axis=-1)[:, None, :]      # "(2 d)" repeat
        sin = np.concatenate([np.sin(freqs)] * 2, axis=-1)[:, None, :]

        def rotary(t: np.ndarray) -> np.ndarray:  # (T, H, D), rotate_half non-interleaved
            t1, t2 = t[..., : D // 2], t[..., D // 2:]
            return t * cos + np.concatenate([-t2, t1], axis=-1) * sin

        for i in range(c["n_layer"]):
            p = f"encoder.layers.{i}."
            qkv = self._dense(p + "attn.Wqkv", x).reshape(T, 3, H, D)      # "(three h d)"
            ctx = self._sdpa(rotary(qkv[:, 0]), rotary(qkv[:, 1]), qkv[:, 2])
            h1 = self._ln(p + "norm1", self._dense(p + "attn.out_proj", ctx) + x, eps)
            gate = self._dense(p + "mlp.fc12", h1)
            y = self._dense(p + "mlp.fc11", h1) * (gate / (1.0 + np.exp(-gate)))
            x = self._ln(p + "norm2", self._dense(p + "mlp.fc2", y) + h1, eps)
        return x

    def embed(self, ids: list[int], pooling: str | None = None) -> np.ndarray:
        """sentence-transformers output: Pooling (mask = all ones) then Normalize."""
        h = self.hidden_states(ids)
        mode = pooling or self.pooling
        if mode == "mean":
            v = h.sum(axis=0) / h.shape[0]
        elif mode == "cls":
            v = h[0]
        else:
            raise ValueError(f"{self.dir}: pooling {mode!r} is not mean or cls")
        return v / max(np.linalg.norm(v), 1e-12)
