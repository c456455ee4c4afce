"""Random but valid ggml tensor data for every weight type the engine supports.

Used by gen_models.py to write quantized fixtures without a quantizer: each
type gets random quant codes plus f16 scales chosen so that the dequantized
values are roughly zero-mean with a requested standard deviation (a few types
with a "min" field are centred through it). The layouts are those of docs/format.md §2;
gguf.quants.dequantize is the independent reader of what is written here.

Every function takes a numpy Generator, the number of rows and columns (the
GGUF ne1 and ne0) and returns a uint8 array of shape (rows, row_bytes).
"""

from __future__ import annotations

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as QT

# docs/format.md §2.2, IQ4_NL / IQ4_XS code book
IQ4_KVALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                       dtype=np.float64)
IQ4_RMS = float(np.sqrt(np.mean(IQ4_KVALUES ** 2)))

# Types a fixture may use, in the order of the contract.
FIXTURE_TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                 "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]


def qtype(name: str) -> QT:
    return QT[name]


def row_bytes(type_name: str, n_cols: int) -> int:
    block, size = GGML_QUANT_SIZES[qtype(type_name)]
    if n_cols % block:
        raise ValueError(f"{type_name}: row of {n_cols} is not a whole number of {block}-blocks")
    return n_cols // block * size


def _f16(x: np.ndarray) -> np.ndarray:
    """f16 bytes of x, shape (..., 2)."""
    return np.ascontiguousarray(x.astype("<f2")).view(np.uint8).reshape(*x.shape, 2)


def _u8(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, k), dtype=np.uint8)


def _jitter(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-block scale factor in [0.5, 1.5): blocks differ in magnitude."""
    return rng.uniform(0.5, 1.5, size=n)


def _sign(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.integers(0, 2, size=n) == 1, 1.0, -1.0)


def _pack_k_scales(sc: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """Inverse of the Q4_K/Q5_K 6-bit (scale, min) unpacking (docs/format.md §2.3).

    sc, mn: (n, 8) ints in 0..63 -> (n, 12) bytes.
    bytes 0..3 : sc[0..3] | (sc[4..7] >> 4) << 6
    bytes 4..7 : mn[0..3] | (mn[4..7] >> 4) << 6
    bytes 8..11: (sc[4..7] & 15) | (mn[4..7] & 15) << 4
    """
    sc = sc.astype(np.uint8)
    mn = mn.astype(np.uint8)
    out = np.empty((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 0xF) | ((mn[:, 4:8] & 0xF) << 4)
    return out


def _blocks(type_name: str, rng: np.random.Generator, nb: int, std: float) -> np.ndarray:
    """nb random blocks of the given quantized type, shape (nb, type_size)."""
    if type_name == "Q4_0":  # (q - 8) * d, q uniform 0..15: rms(q-8) ~ 4.6
        d = std / 4.6 * _jitter(rng, nb) * _sign(rng, nb)
        return np.hstack([_f16(d), _u8(rng, nb, 16)])
    if type_name == "Q4_1":  # q * d + m, centred with m ~ -7.5 d
        d = std / 4.6 * _jitter(rng, nb)
        m = -7.5 * d * rng.uniform(0.9, 1.1, size=nb)
        return np.hstack([_f16(d), _f16(m), _u8(rng, nb, 16)])
    if type_name == "Q5_0":  # (q - 16) * d, q 0..31
        d = std / 9.2 * _jitter(rng, nb) * _sign(rng, nb)
        return np.hstack([_f16(d), _u8(rng, nb, 4), _u8(rng, nb, 16)])
    if type_name == "Q5_1":
        d = std / 9.2 * _jitter(rng, nb)
        m = -15.5 * d * rng.uniform(0.9, 1.1, size=nb)
        return np.hstack([_f16(d), _f16(m), _u8(rng, nb, 4), _u8(rng, nb, 16)])
    if type_name == "Q8_0":  # q * d, q int8 in -127..127
        d = std / 73.0 * _jitter(rng, nb)
        qs = rng.integers(-127, 128, size=(nb, 32), dtype=np.int8).view(np.uint8)
        return np.hstack([_f16(d), qs])
    if type_name == "IQ4_NL":
        d = std / IQ4_RMS * _jitter(rng, nb) * _sign(rng, nb)
        return np.hstack([_f16(d), _u8(rng, nb, 16)])
    if type_name == "Q2_K":
        # 16 groups: y = d*sc*q - dmin*mn, q 0..3 (mean 1.5); mn ~ 1.5*sc centres
        # each group when dmin == d.
        sc = rng.integers(1, 11, size=(nb, 16))
        mn = np.clip(np.rint(1.5 * sc) + rng.integers(-1, 2, size=(nb, 16)), 0, 15).astype(np.int64)
        scales = (sc | (mn << 4)).astype(np.uint8)
        d = std / (6.5 * 1.12) * _jitter(rng, nb)
        return np.hstack([scales, _u8(rng, nb, 64), _f16(d), _f16(d)])
    if type_name == "Q3_K":
        # y = d * S * q, S in -32..31 (rms ~18.5), q in -4..3 (rms ~2.35)
        d = std / (18.5 * 2.35) * _jitter(rng, nb)
        return np.hstack([_u8(rng, nb, 32), _u8(rng, nb, 64), _u8(rng, nb, 12), _f16(d)])
    if type_name == "Q4_K":
        # 8 sub-blocks: y = d*sc*q - dmin*mn, q 0..15; dmin = 8d, mn ~ 7.5*sc/8
        sc = rng.integers(1, 64, size=(nb, 8))
        mn = np.clip(np.rint(7.5 * sc / 8) + rng.integers(-1, 2, size=(nb, 8)), 0, 63).astype(np.int64)
        d = std / (36.7 * 4.6) * _jitter(rng, nb)
        return np.hstack([_f16(d), _f16(8 * d), _pack_k_scales(sc, mn), _u8(rng, nb, 128)])
    if type_name == "Q5_K":
        sc = rng.integers(1, 64, size=(nb, 8))
        mn = np.clip(np.rint(15.5 * sc / 16) + rng.integers(-1, 2, size=(nb, 8)), 0, 63).astype(np.int64)
        d = std / (36.7 * 9.2) * _jitter(rng, nb)
        return np.hstack([_f16(d), _f16(16 * d), _pack_k_scales(sc, mn),
                          _u8(rng, nb, 32), _u8(rng, nb, 128)])
    if type_name == "Q6_K":
        # y = d * sc * (q - 32), sc int8 (rms ~73), q-32 rms ~18.5. With std
        # 0.05 d is ~3.7e-5: many scales are f16 subnormals on purpose
        # (docs/format.md §2.1: they must be honoured).
        d = std / (73.0 * 18.5) * _jitter(rng, nb)
        sc = rng.integers(-127, 128, size=(nb, 16), dtype=np.int8).view(np.uint8)
        return np.hstack([_u8(rng, nb, 128), _u8(rng, nb, 64), sc, _f16(d)])
    if type_name == "IQ4_XS":
        # y = d * (ls - 32) * KV[q], ls 6-bit
        d = std / (18.5 * IQ4_RMS) * _jitter(rng, nb)
        return np.hstack([_f16(d), _u8(rng, nb, 2), _u8(rng, nb, 4), _u8(rng, nb, 128)])
    raise ValueError(f"no random block generator for {type_name}")


def random_tensor(type_name: str, rng: np.random.Generator, n_rows: int, n_cols: int,
                  std: float, mean: float = 0.0) -> np.ndarray:
    """Random data of one tensor in the given type as raw bytes (n_rows, row_bytes).

    Float types are normal(mean, std). Quantized types are random valid blocks
    (zero mean; `mean` must be 0 for them, use quantize_values for tensors that
    need an offset such as LayerNorm weights).
    """
    if type_name in ("F32", "F16", "BF16"):
        x = rng.standard_normal(size=(n_rows, n_cols), dtype=np.float32) * np.float32(std) + np.float32(mean)
        return float_bytes(type_name, x)
    if mean != 0.0:
        raise ValueError(f"{type_name}: random blocks are zero-mean; quantize values instead")
    rb = row_bytes(type_name, n_cols)
    block, size = GGML_QUANT_SIZES[qtype(type_name)]
    nb = n_rows * (n_cols // block)
    out = _blocks(type_name, rng, nb, std)
    assert out.shape == (nb, size), (type_name, out.shape)
    return np.ascontiguousarray(out).reshape(n_rows, rb)


def float_bytes(type_name: str, x: np.ndarray) -> np.ndarray:
    """x (rows, cols) float32 -> raw bytes in F32/F16/BF16 (BF16 rounds to nearest even)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if type_name == "F32":
        return x.view(np.uint8).reshape(x.shape[0], -1)
    if type_name == "F16":
        return np.ascontiguousarray(x.astype("<f2")).view(np.uint8).reshape(x.shape[0], -1)
    if type_name == "BF16":
        u = x.view(np.uint32).astype(np.uint64)
        r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        return r.view(np.uint8).reshape(x.shape[0], -1)
    raise ValueError(type_name)


def quantize_values(type_name: str, x: np.ndarray) -> np.ndarray:
    """Quantize given values (rows, cols) with gguf.quants (types it can quantize)."""
    import gguf
    if type_name in ("F32", "F16", "BF16"):
        return float_bytes(type_name, x)
    q = gguf.quants.quantize(np.ascontiguousarray(x, dtype=np.float32), qtype(type_name))
    return q.reshape(x.shape[0], -1)
