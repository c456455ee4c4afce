#!/usr/bin/env python3
"""Write GGUF sample files with the PyPI `gguf` package and dump what
gguf.GGUFReader sees in them, as the independent reference for the C reader.

Usage: gen_gguf_samples.py OUTDIR

Writes
  OUTDIR/gguf/<name>.gguf        files made by gguf.GGUFWriter (also the fuzz seed corpus)
  OUTDIR/expected/<name>.tsv     gguf.GGUFReader's view of each file
  OUTDIR/manifest.tsv            one <name> per line

Each .tsv has tab-separated lines (strings and names hex-encoded, so that any
byte is safe; numbers in decimal, floats as Python repr of the exact value):
  gguf    version  alignment  data_offset  n_kv  n_tensors  file_size
  kv      key_hex  type_id  elem_type_id|-1  count  values
          values: scalar -> one value; array -> comma-separated elements;
          STRING -> hex; BOOL -> 0/1; count is 1 for scalars
  tensor  name_hex  type_id  n_dims  ne0,ne1,..  n_elements  n_bytes  abs_offset  crc32_of_data

Read by tests/unit/test_gguf_samples.c (registered by tests/cmake/gguf.cmake).
Deterministic: fixed seeds, no time stamps.
"""
import os
import sys
import zlib

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

# Types written as raw bytes. Q8_1 is left out on purpose: gguf-py's size
# table says 40 bytes per block, ggml (and this project) 36 (docs/format.md §1.6).
# MXFP4 and later ids are newer than the ggml the project follows.
RAW_TYPES = [
    QT.F32, QT.F16, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0,
    QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K, QT.Q8_K,
    QT.IQ2_XXS, QT.IQ2_XS, QT.IQ3_XXS, QT.IQ1_S, QT.IQ4_NL, QT.IQ3_S, QT.IQ2_S, QT.IQ4_XS,
    QT.I8, QT.I16, QT.I32, QT.I64, QT.F64, QT.IQ1_M, QT.BF16, QT.TQ1_0, QT.TQ2_0,
]

# Outer dimensions (ne[1..]) cycled through for the raw-typed tensors.
OUTER_SHAPES = [(), (3,), (2, 2), (2, 1, 3), (1,), (5,)]


def raw_tensor(rng, qtype, ne):
    """uint8 array in gguf-py's byte shape for a tensor of element shape ne (ne[0] first)."""
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    row_bytes = ne[0] // block * type_size
    byte_shape = tuple(reversed(ne[1:])) + (row_bytes,)
    return rng.integers(0, 256, size=byte_shape, dtype=np.uint8)


def add_every_key_type(w, rng):
    w.add_uint8("k.u8", 200)
    w.add_int8("k.i8", -100)
    w.add_uint16("k.u16", 60000)
    w.add_int16("k.i16", -30000)
    w.add_uint32("k.u32", 4000000000)
    w.add_int32("k.i32", -2000000000)
    w.add_float32("k.f32", 0.1)
    w.add_bool("k.bool_true", True)
    w.add_bool("k.bool_false", False)
    w.add_string("k.str", "h\u00e9llo \u2581w\u00f6rld \U0001f999\t\n")
    w.add_string("k.empty_str", "")
    w.add_uint64("k.u64", 2**64 - 1)
    w.add_int64("k.i64", -(2**63))
    w.add_float64("k.f64", -1.0e300)
    w.add_key_value("a.u8", [0, 1, 255], VT.ARRAY, VT.UINT8)
    w.add_key_value("a.i8", [-128, 0, 127], VT.ARRAY, VT.INT8)
    w.add_key_value("a.u16", [0, 65535], VT.ARRAY, VT.UINT16)
    w.add_key_value("a.i16", [-32768, 7, 32767], VT.ARRAY, VT.INT16)
    w.add_key_value("a.u32", [0, 4294967295, 12], VT.ARRAY, VT.UINT32)
    w.add_key_value("a.i32", [int(x) for x in rng.integers(-2**31, 2**31, size=20)], VT.ARRAY, VT.INT32)
    w.add_key_value("a.f32", [float(x) for x in rng.standard_normal(17).astype(np.float32)], VT.ARRAY, VT.FLOAT32)
    w.add_key_value("a.bool", [True, False, False, True], VT.ARRAY, VT.BOOL)
    w.add_key_value("a.u64", [0, 2**64 - 1, 2**63], VT.ARRAY, VT.UINT64)
    w.add_key_value("a.i64", [-(2**63), 2**63 - 1, -1], VT.ARRAY, VT.INT64)
    w.add_key_value("a.f64", [0.5, -2.25e-308, 1e308], VT.ARRAY, VT.FLOAT64)
    w.add_key_value("a.str", ["", "[CLS]", "\u2581the", "##ing", "\u4e2d\u6587"], VT.ARRAY, VT.STRING)


def sample_types(path, rng):
    """Every tensor type gguf-py and the project agree on, in 1..4 dims, and every key type."""
    w = gguf.GGUFWriter(path, "bert")
    add_every_key_type(w, rng)
    for i, qt in enumerate(RAW_TYPES):
        block, _ = gguf.GGML_QUANT_SIZES[qt]
        ne = [block * (1 + i % 3)] + list(OUTER_SHAPES[i % len(OUTER_SHAPES)])
        w.add_tensor(f"t{i:02d}.{qt.name.lower()}", raw_tensor(rng, qt, ne), raw_dtype=qt)
    # typed numpy arrays (dtype inferred by the writer)
    w.add_tensor("np.f32", rng.standard_normal((3, 5)).astype(np.float32))
    w.add_tensor("np.f16", rng.standard_normal((7,)).astype(np.float16))
    w.add_tensor("np.i32", rng.integers(-1000, 1000, size=(2, 2, 2, 3)).astype(np.int32))
    w.add_tensor("np.f64", rng.standard_normal((4, 1)).astype(np.float64))
    return w


def sample_align(path, rng, alignment):
    """Custom general.alignment with tensor sizes that are not multiples of it."""
    w = gguf.GGUFWriter(path, "nomic-bert")
    w.add_custom_alignment(alignment)
    w.add_uint32("nomic-bert.block_count", 1)
    w.add_float32("nomic-bert.rope.freq_base", 1000.0)
    for i, (qt, ne) in enumerate([(QT.F32, [3]), (QT.Q8_0, [32, 3]), (QT.F16, [5, 3]),
                                  (QT.Q4_K, [256, 1]), (QT.I8, [1]), (QT.IQ4_NL, [64, 2])]):
        w.add_tensor(f"blk.{i}.weight", raw_tensor(rng, qt, ne), raw_dtype=qt)
    return w


def sample_bert_like(path, rng):
    """Model-like: a vocabulary (string array with unicode) and bert tensor names."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += ["\u2581" + "".join(chr(0x61 + int(c)) for c in rng.integers(0, 26, size=1 + i % 9)) for i in range(300)]
    vocab += ["##" + chr(0x4e00 + i) for i in range(100)] + ["\u2581\U0001f999", "\u00e9", ""]
    w = gguf.GGUFWriter(path, "bert")
    w.add_uint32("bert.block_count", 1)
    w.add_uint32("bert.embedding_length", 64)
    w.add_float32("bert.attention.layer_norm_epsilon", 1e-12)
    w.add_bool("bert.attention.causal", False)
    w.add_uint32("bert.pooling_type", 1)
    w.add_string("tokenizer.ggml.model", "bert")
    w.add_token_list(vocab)
    w.add_token_types([3 if t.startswith("[") else 1 for t in vocab])
    n_embd, n_vocab = 64, len(vocab)
    w.add_tensor("token_embd.weight", raw_tensor(rng, QT.Q8_0, [n_embd, n_vocab]), raw_dtype=QT.Q8_0)
    w.add_tensor("position_embd.weight", rng.standard_normal((16, n_embd)).astype(np.float16))
    w.add_tensor("token_types.weight", rng.standard_normal((2, n_embd)).astype(np.float32))
    w.add_tensor("token_embd_norm.weight", rng.standard_normal((n_embd,)).astype(np.float32))
    w.add_tensor("token_embd_norm.bias", rng.standard_normal((n_embd,)).astype(np.float32))
    for name, qt in [("attn_q", QT.Q4_0), ("attn_k", QT.Q5_1), ("attn_v", QT.Q6_K), ("attn_output", QT.BF16)]:
        ne = [256 if qt == QT.Q6_K else n_embd, n_embd]
        w.add_tensor(f"blk.0.{name}.weight", raw_tensor(rng, qt, ne), raw_dtype=qt)
        w.add_tensor(f"blk.0.{name}.bias", rng.standard_normal((n_embd,)).astype(np.float32))
    return w


def sample_no_tensors(path, rng):
    w = gguf.GGUFWriter(path, "bert")
    w.add_string("general.name", "keys only")
    w.add_key_value("a.f32", [float(x) for x in rng.standard_normal(5).astype(np.float32)], VT.ARRAY, VT.FLOAT32)
    return w


SAMPLES = [
    ("types", sample_types),
    ("align64", lambda p, r: sample_align(p, r, 64)),
    ("align1", lambda p, r: sample_align(p, r, 1)),
    ("bert_like", sample_bert_like),
    ("no_tensors", sample_no_tensors),
]


def fmt_scalar(vtype, part):
    if vtype == VT.STRING:
        return bytes(part).hex()
    v = part[0]
    if vtype in (VT.FLOAT32, VT.FLOAT64):
        return repr(float(v))
    if vtype == VT.BOOL:
        return "1" if bool(v) else "0"
    return str(int(v))


def dump(path, out):
    r = gguf.GGUFReader(path)
    fields = [f for name, f in r.fields.items() if not name.startswith("GGUF.")]
    version = int(r.fields["GGUF.version"].parts[-1][0])
    lines = ["\t".join(map(str, ["gguf", version, r.alignment, r.data_offset, len(fields),
                                 len(r.tensors), os.path.getsize(path)]))]
    for f in fields:
        main = f.types[0]
        if main == VT.ARRAY:
            sub = f.types[-1]
            values = ",".join(fmt_scalar(sub, f.parts[i]) for i in f.data)
            lines.append("\t".join(["kv", f.name.encode().hex(), str(int(main)), str(int(sub)),
                                    str(len(f.data)), values]))
        else:
            values = fmt_scalar(main, f.parts[f.data[0]])
            lines.append("\t".join(["kv", f.name.encode().hex(), str(int(main)), "-1", "1", values]))
    for t in r.tensors:
        n_dims = int(t.field.parts[2][0])
        ne = ",".join(str(int(x)) for x in t.shape)
        crc = zlib.crc32(t.data.tobytes()) & 0xFFFFFFFF
        lines.append("\t".join(map(str, ["tensor", t.name.encode().hex(), int(t.tensor_type), n_dims, ne,
                                         t.n_elements, t.n_bytes, t.data_offset, crc])))
    with open(out, "w", encoding="ascii") as fh:
        fh.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(os.path.join(outdir, "gguf"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "expected"), exist_ok=True)
    names = []
    for i, (name, make) in enumerate(SAMPLES):
        path = os.path.join(outdir, "gguf", name + ".gguf")
        rng = np.random.default_rng(1000 + i)
        w = make(path, rng)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        dump(path, os.path.join(outdir, "expected", name + ".tsv"))
        names.append(name)
    with open(os.path.join(outdir, "manifest.tsv"), "w", encoding="ascii") as fh:
        fh.write("\n".join(names) + "\n")
    print(f"gen_gguf_samples: wrote {len(names)} files to {outdir}")


if __name__ == "__main__":
    main()
