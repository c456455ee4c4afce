"""gguf.quants.dequantize against a plain reading of docs/format.md §2 for every fixture type.

The fixtures' golden embeddings use gguf-py's dequantization; this checks it
(and quant_blocks.py's packing) against the block layouts and formulas as
the reference spec writes them, element by element, on random blocks and on
blocks with hand-picked corner values (subnormal f16 scales, extreme codes).
"""

import numpy as np
import pytest
import gguf

from quant_blocks import FIXTURE_TYPES, IQ4_KVALUES, qtype, random_tensor

KV = IQ4_KVALUES.astype(np.float32)


def f16(b, off):
    return np.float32(np.frombuffer(bytes(b[off:off + 2]), dtype="<f2")[0])


def u32(b, off):
    return int.from_bytes(bytes(b[off:off + 4]), "little")


def k_scale_min(s, j):
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


def spec_dequant_block(t, b):
    """One block of type t (bytes b) -> float32 values, literally from docs/format.md §2."""
    b = [int(x) for x in b]
    y = []
    if t == "Q4_0":
        d = f16(b, 0); qs = b[2:18]
        return [((q & 0xF) - 8) * d for q in qs] + [((q >> 4) - 8) * d for q in qs]
    if t == "Q4_1":
        d, m = f16(b, 0), f16(b, 2); qs = b[4:20]
        return [(q & 0xF) * d + m for q in qs] + [(q >> 4) * d + m for q in qs]
    if t in ("Q5_0", "Q5_1"):
        if t == "Q5_0":
            d, m, H, qs = f16(b, 0), None, u32(b, 2), b[6:22]
        else:
            d, m, H, qs = f16(b, 0), f16(b, 2), u32(b, 4), b[8:24]
        lo = [(qs[j] & 0xF) | (((H >> j) & 1) << 4) for j in range(16)]
        hi = [(qs[j] >> 4) | (((H >> (j + 16)) & 1) << 4) for j in range(16)]
        if m is None:
            return [(q - 16) * d for q in lo + hi]
        return [q * d + m for q in lo + hi]
    if t == "Q8_0":
        d = f16(b, 0)
        return [np.int8(np.uint8(q)) * d for q in b[2:34]]
    if t == "IQ4_NL":
        d = f16(b, 0); qs = b[2:18]
        return [d * KV[q & 0xF] for q in qs] + [d * KV[q >> 4] for q in qs]
    if t == "Q2_K":
        scales, qs, d, dmin = b[0:16], b[16:80], f16(b, 80), f16(b, 82)
        i = 0
        for half in range(2):
            q = qs[32 * half:32 * half + 32]
            for j in range(4):
                for g in range(2):
                    sc = scales[i]; i += 1
                    dl, ml = d * (sc & 0xF), dmin * (sc >> 4)
                    y += [dl * ((q[16 * g + l] >> (2 * j)) & 3) - ml for l in range(16)]
        return y
    if t == "Q3_K":
        hmask, qs, sb, d = b[0:32], b[32:96], b[96:108], f16(b, 108)
        S = []
        for i in range(16):
            low4 = (sb[i] & 0xF) if i < 8 else (sb[i - 8] >> 4)
            high2 = (sb[8 + (i % 4)] >> (2 * (i // 4))) & 3
            S.append((low4 | (high2 << 4)) - 32)
        i = 0; bit = 0
        for half in range(2):
            q = qs[32 * half:32 * half + 32]
            for j in range(4):
                m = 1 << bit
                for g in range(2):
                    dl = d * S[i]; i += 1
                    for l in range(16):
                        k = 16 * g + l
                        y.append(dl * (((q[k] >> (2 * j)) & 3) - (0 if hmask[k] & m else 4)))
                bit += 1
        return y
    if t in ("Q4_K", "Q5_K"):
        d, dmin, s = f16(b, 0), f16(b, 2), b[4:16]
        qh, qs = (None, b[16:144]) if t == "Q4_K" else (b[16:48], b[48:176])
        for c in range(4):
            ql = qs[32 * c:32 * c + 32]
            sc1, m1 = k_scale_min(s, 2 * c); sc2, m2 = k_scale_min(s, 2 * c + 1)
            d1, mm1, d2, mm2 = d * sc1, dmin * m1, d * sc2, dmin * m2
            u1, u2 = 1 << (2 * c), 1 << (2 * c + 1)
            h1 = [16 if qh and qh[l] & u1 else 0 for l in range(32)]
            h2 = [16 if qh and qh[l] & u2 else 0 for l in range(32)]
            y += [d1 * ((ql[l] & 0xF) + h1[l]) - mm1 for l in range(32)]
            y += [d2 * ((ql[l] >> 4) + h2[l]) - mm2 for l in range(32)]
        return y
    if t == "Q6_K":
        d = f16(b, 208)
        y = [0.0] * 256
        for half in range(2):
            ql, qh = b[64 * half:64 * half + 64], b[128 + 32 * half:128 + 32 * half + 32]
            sc = [int(np.int8(np.uint8(v))) for v in b[192 + 8 * half:192 + 8 * half + 8]]
            for l in range(32):
                i = l // 16
                q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
                q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                o = 128 * half
                y[o + l] = d * sc[i] * q1
                y[o + l + 32] = d * sc[i + 2] * q2
                y[o + l + 64] = d * sc[i + 4] * q3
                y[o + l + 96] = d * sc[i + 6] * q4
        return y
    if t == "IQ4_XS":
        d, sh, sl, qs = f16(b, 0), b[2] | (b[3] << 8), b[4:8], b[8:136]
        for ib in range(8):
            ls = ((sl[ib // 2] >> (4 * (ib % 2))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4)
            dl = d * (ls - 32)
            q = qs[16 * ib:16 * ib + 16]
            y += [dl * KV[v & 0xF] for v in q] + [dl * KV[v >> 4] for v in q]
        return y
    raise ValueError(t)


QUANT_TYPES = [t for t in FIXTURE_TYPES if t not in ("F32", "F16", "BF16")]


# byte offsets of the f16 fields (d, m / dmin) in each block (docs/format.md §2)
F16_FIELDS = {"Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2), "Q8_0": (0,),
              "IQ4_NL": (0,), "Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2),
              "Q6_K": (208,), "IQ4_XS": (0,)}


def _corner_blocks(t, rng):
    """Blocks with a subnormal f16 scale, a scale of 1.0, and every other byte
    (codes, packed scales, high bits) all-ones or all-zeros."""
    block, size = gguf.GGML_QUANT_SIZES[qtype(t)]
    blocks = random_tensor(t, rng, 4, block, 0.05).copy()
    f16_bytes = lambda v: np.frombuffer(np.array([v], dtype="<f2").tobytes(), dtype=np.uint8)  # noqa: E731
    d = F16_FIELDS[t][0]
    blocks[0, d:d + 2] = f16_bytes(2.0 ** -20)
    blocks[1, d:d + 2] = f16_bytes(1.0)
    codes = np.ones(size, dtype=bool)
    for off in F16_FIELDS[t]:
        codes[off:off + 2] = False
    blocks[2, codes] = 0xFF
    blocks[3, codes] = 0x00
    return blocks


@pytest.mark.parametrize("t", QUANT_TYPES)
def test_gguf_dequantize_matches_spec(t):
    rng = np.random.default_rng(1234)
    block, _ = gguf.GGML_QUANT_SIZES[qtype(t)]
    rows = np.vstack([random_tensor(t, rng, 6, block, 0.05), _corner_blocks(t, rng)])
    got = gguf.quants.dequantize(rows, qtype(t))
    want = np.array([spec_dequant_block(t, r) for r in rows], dtype=np.float32)
    assert got.shape == want.shape == (rows.shape[0], block)
    diff = np.abs(got.astype(np.float64) - want)
    tol = 1e-6 * np.maximum(np.abs(want), 1e-30) + 1e-12
    bad = np.argwhere(diff > tol)
    assert bad.size == 0, (f"{t}: {len(bad)} values differ, largest {diff.max():.3g}; first at "
                           f"{tuple(bad[0])}: gguf {got[tuple(bad[0])]!r} spec {want[tuple(bad[0])]!r}")


def test_subnormal_scale_is_honoured():
    """Q8_0 with d = 2^-20 (an f16 subnormal) must not flush to zero (docs/format.md §2.1)."""
    b = np.zeros((1, 34), dtype=np.uint8)
    b[0, 0:2] = np.frombuffer(np.array([2.0 ** -20], dtype="<f2").tobytes(), dtype=np.uint8)
    b[0, 2] = 100
    v = gguf.quants.dequantize(b, qtype("Q8_0"))
    assert v[0, 0] == np.float32(100 * 2.0 ** -20)


@pytest.mark.parametrize("t", ["F16", "BF16"])
def test_float_types_round_trip(t):
    rng = np.random.default_rng(7)
    raw = random_tensor(t, rng, 3, 64, 0.05)
    got = gguf.quants.dequantize(raw, qtype(t))
    if t == "F16":
        want = raw.view("<f2").astype(np.float32)
    else:
        want = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
