#!/usr/bin/env python3
"""Golden values for the dequantization kernels (tests/unit/test_quant.c).

The expected floats come from an independent implementation: numpy and the
PyPI `gguf` package (gguf.quants.dequantize), never from the code under test.

For every supported type the script writes random blocks (random bytes for the
quant payloads; the f16 scale fields set to finite values of every kind:
normal, subnormal, zero, large) and their dequantized floats; F16 and BF16 are
exhaustive over all 65536 bit patterns; F32 is random plus special values.
It also writes f32 -> f16 conversion cases (numpy's round-to-nearest-even):
every f16 value, its f32 neighbours, all midpoints (ties) between consecutive
f16 values and their neighbours, the overflow boundary, and random floats.

Output (all little-endian), read by test_quant.c:
    magic      8 bytes  b"EMBQGLD1"
    n_records  u32
    record:    kind u32 (1 = dequantize, 2 = f32 -> f16)
               type u32 (ggml type id; 0 for kind 2)
               n    u64 (elements)
               label_len u32, label bytes (utf-8, no NUL)
               in_len  u64, in bytes   (kind 1: n / block_size blocks; kind 2: n f32)
               out_len u64, out bytes  (kind 1: n f32;                  kind 2: n u16)

Usage: gen_quant_goldens.py --out BUILD_DIR/quant_goldens.bin
"""
import argparse
import struct
import sys

try:
    import numpy as np
    from gguf import quants
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
except ImportError as e:  # a clear message instead of a traceback in ctest
    sys.exit(f"gen_quant_goldens: needs numpy and the PyPI gguf package: {e}")

MAGIC = b"EMBQGLD1"
KIND_DEQUANT = 1
KIND_F32_TO_F16 = 2

# Byte offsets of the f16 scale / min fields inside one block (docs/format.md §2).
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    "IQ4_NL": [0], "IQ4_XS": [0],
}

rng = np.random.default_rng(20250220)


def f16_bits(values):
    return np.asarray(values, dtype=np.float16).view(np.uint16)


def sane_scales(count, kind):
    """count f16 bit patterns, all finite, of the requested kind."""
    sign = rng.integers(0, 2, count).astype(np.uint16) << 15
    if kind == "subnormal":
        return sign | rng.integers(1, 0x400, count).astype(np.uint16)
    if kind == "mixed":
        out = np.empty(count, dtype=np.uint16)
        pick = rng.random(count)
        normal = f16_bits(10.0 ** rng.uniform(-4, 0, count)) | sign
        large = f16_bits(10.0 ** rng.uniform(0, 4.5, count)) | sign
        sub = sign | rng.integers(1, 0x400, count).astype(np.uint16)
        edge = rng.choice(np.array([0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00],
                                   dtype=np.uint16), count)
        out[:] = normal
        out[pick > 0.60] = sub[pick > 0.60]
        out[pick > 0.78] = large[pick > 0.78]
        out[pick > 0.90] = edge[pick > 0.90]
        return out
    raise ValueError(kind)


def quant_blocks(name, n_blocks, scales="mixed", payload="random"):
    qtype = T[name]
    _, type_size = GGML_QUANT_SIZES[qtype]
    if payload == "random":
        raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    elif payload == "zeros":
        raw = np.zeros((n_blocks, type_size), dtype=np.uint8)
    elif payload == "ones":
        raw = np.full((n_blocks, type_size), 0xFF, dtype=np.uint8)
    else:
        raise ValueError(payload)
    for off in F16_FIELDS[name]:
        bits = sane_scales(n_blocks, scales)
        raw[:, off] = (bits & 0xFF).astype(np.uint8)
        raw[:, off + 1] = (bits >> 8).astype(np.uint8)
    return raw


def dequant_record(name, raw, label):
    qtype = T[name]
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
    n = raw.size // type_size * block_size
    out = quants.dequantize(raw.reshape(1, -1), qtype).reshape(-1)
    out = np.ascontiguousarray(out, dtype="<f4")
    assert out.size == n, (name, out.size, n)
    return (KIND_DEQUANT, int(qtype), n, label, raw.tobytes(), out.tobytes())


def f32_to_f16_record():
    all_h = np.arange(0x10000, dtype=np.uint32).astype(np.uint16)
    f = all_h.view(np.float16).astype(np.float32)
    finite = f[np.isfinite(f)]
    pos = np.unique(np.abs(finite))  # sorted non-negative f16 values as f32
    mids = (pos[:-1].astype(np.float64) + pos[1:].astype(np.float64)) / 2
    mids = mids.astype(np.float32)
    assert np.all(mids.astype(np.float64) == (pos[:-1].astype(np.float64) + pos[1:]) / 2)  # exact ties
    # midpoints above the largest finite f16: 65520 is the tie that rounds to inf
    top = np.array([65504.0, 65519.0, 65520.0, 65535.0, 65536.0, 1e6, 3.0e38, np.inf], dtype=np.float32)
    tiny = np.array([2.0 ** -25, 2.0 ** -26, 2.0 ** -24 * 1.5, 1e-30, 1e-45, 0.0], dtype=np.float32)
    base = np.concatenate([pos, mids, top, tiny])
    up = np.nextafter(base, np.float32(np.inf))
    down = np.nextafter(base, np.float32(0))
    rand_bits = rng.integers(0, 2 ** 32, 200000, dtype=np.uint64).astype(np.uint32)
    rand = rand_bits.view(np.float32)
    rand = rand[~np.isnan(rand)]
    vals = np.concatenate([base, up, down])
    vals = np.concatenate([vals, -vals, rand]).astype(np.float32)
    with np.errstate(over="ignore"):
        out = vals.astype(np.float16).view(np.uint16)
    return (KIND_F32_TO_F16, 0, vals.size, "f32->f16 ties, neighbours, overflow, random",
            vals.astype("<f4").tobytes(), out.astype("<u2").tobytes())


def build_records():
    recs = []
    # F32: random values plus the specials (the kernel is a copy: bits must match)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-40, 3.4028235e38], dtype=np.float32)
    f32 = np.concatenate([rng.standard_normal(1000).astype(np.float32), specials,
                          rng.integers(0, 2 ** 32, 77, dtype=np.uint64).astype(np.uint32).view(np.float32)])
    recs.append(dequant_record("F32", f32.view(np.uint8), "F32 random + specials"))
    # F16 / BF16: every bit pattern
    all16 = np.arange(0x10000, dtype=np.uint32).astype("<u2")
    recs.append(dequant_record("F16", all16.view(np.uint8), "F16 all 65536 values"))
    recs.append(dequant_record("BF16", all16.view(np.uint8), "BF16 all 65536 values"))
    recs.append(dequant_record("F16", all16[rng.permutation(0x10000)[:1001]].view(np.uint8),
                               "F16 1001 random values"))
    for name in F16_FIELDS:
        for n_blocks in (1, 2, 3, 8, 37):
            recs.append(dequant_record(name, quant_blocks(name, n_blocks),
                                       f"{name} {n_blocks} random blocks, mixed scales"))
        recs.append(dequant_record(name, quant_blocks(name, 16, scales="subnormal"),
                                   f"{name} 16 random blocks, subnormal scales"))
        recs.append(dequant_record(name, quant_blocks(name, 2, payload="zeros"),
                                   f"{name} 2 blocks, zero payload"))
        recs.append(dequant_record(name, quant_blocks(name, 2, payload="ones"),
                                   f"{name} 2 blocks, 0xff payload"))
    recs.append(f32_to_f16_record())
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output file (in the build directory)")
    args = ap.parse_args()
    recs = build_records()
    with open(args.out, "wb") as fh:
        fh.write(MAGIC)
        fh.write(struct.pack("<I", len(recs)))
        for kind, qtype, n, label, data_in, data_out in recs:
            lab = label.encode()
            fh.write(struct.pack("<IIQI", kind, qtype, n, len(lab)))
            fh.write(lab)
            fh.write(struct.pack("<Q", len(data_in)))
            fh.write(data_in)
            fh.write(struct.pack("<Q", len(data_out)))
            fh.write(data_out)
    total = sum(r[2] for r in recs)
    print(f"gen_quant_goldens: {len(recs)} records, {total} values -> {args.out}")


if __name__ == "__main__":
    main()
