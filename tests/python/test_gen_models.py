"""The fixture generator: files, metadata, types, goldens, determinism.

Generates a few representative models into a temporary directory (the full
set is made by the ctest fixture `gen_models`).
"""

import hashlib
import shutil

import numpy as np
import pytest

import gen_models
from gguf_vocab import load_gguf_vocab, open_gguf
from quant_blocks import FIXTURE_TYPES
from ref_texts import LONG_TEXT, TEXTS
from refbin import read_refbin

SAMPLE = ["tiny-bert-Q4_K", "tiny-nomic-Q6_K", "tiny-nomic-BF16", "tiny-bert-mixed", "tiny-bert-cls-F32"]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory, vocab_path):
    d = tmp_path_factory.mktemp("models")
    rc = gen_models.main(["--out", str(d), "--vocab", str(vocab_path), "--only", *SAMPLE, "-q", "-j", "2"])
    assert rc == 0
    return d


def kv(r, key):
    f = r.fields.get(key)
    return None if f is None else f.contents()


def expected_tensors(arch, E=256, F=512, n_vocab=30522, ctx=64):
    """name -> GGUF shape [ne0, ne1] from docs/format.md §4.1 / §4.2."""
    t = {"token_embd.weight": [E, n_vocab], "token_types.weight": [E, 2],
         "token_embd_norm.weight": [E], "token_embd_norm.bias": [E]}
    if arch == "bert":
        t["position_embd.weight"] = [E, ctx]
    for i in range(2):
        b = f"blk.{i}."
        if arch == "bert":
            for p in ("attn_q", "attn_k", "attn_v", "attn_output"):
                t[b + p + ".weight"] = [E, E]
                t[b + p + ".bias"] = [E]
            t[b + "ffn_up.weight"], t[b + "ffn_up.bias"] = [E, F], [F]
            t[b + "ffn_down.weight"], t[b + "ffn_down.bias"] = [F, E], [E]
        else:
            t[b + "attn_qkv.weight"] = [E, 3 * E]
            t[b + "attn_output.weight"] = [E, E]
            t[b + "ffn_up.weight"] = t[b + "ffn_gate.weight"] = [E, F]
            t[b + "ffn_down.weight"] = [F, E]
        for n in ("attn_output_norm", "layer_output_norm"):
            t[b + n + ".weight"] = t[b + n + ".bias"] = [E]
    return t


@pytest.mark.parametrize("name", SAMPLE)
def test_metadata_tensors_and_types(out_dir, vocab, name):
    r = open_gguf(out_dir / f"{name}.gguf")
    arch = "nomic-bert" if "nomic" in name else "bert"
    ctx = 2048 if arch == "nomic-bert" else 64
    assert kv(r, "general.architecture") == arch
    assert kv(r, f"{arch}.context_length") == ctx
    assert kv(r, f"{arch}.embedding_length") == 256
    assert kv(r, f"{arch}.block_count") == 2
    assert kv(r, f"{arch}.feed_forward_length") == 512
    assert kv(r, f"{arch}.attention.head_count") == 4
    assert kv(r, f"{arch}.attention.layer_norm_epsilon") == pytest.approx(1e-12)
    assert kv(r, f"{arch}.attention.causal") is False
    assert kv(r, f"{arch}.pooling_type") == (2 if "cls" in name else 1)
    if arch == "nomic-bert":
        assert kv(r, "nomic-bert.rope.freq_base") == 1000.0
    got_vocab = load_gguf_vocab(out_dir / f"{name}.gguf", r)
    assert got_vocab.tokens == vocab.tokens
    assert got_vocab.token_types == vocab.token_types
    assert got_vocab.special == {"bos": 101, "seperator": 102, "unknown": 100, "padding": 0, "mask": 103}
    assert kv(r, "tokenizer.ggml.token_type_count") == 2

    want = expected_tensors(arch, ctx=ctx)
    got = {t.name: [int(x) for x in t.shape] for t in r.tensors}
    assert got == want
    if name != "tiny-bert-mixed":
        ty = name.rsplit("-", 1)[1]
        for t in r.tensors:
            expect = ty if len(want[t.name]) == 2 else "F32"
            assert t.tensor_type.name == expect, t.name


def test_mixed_model_uses_every_type_in_every_position(out_dir):
    r = open_gguf(out_dir / "tiny-bert-mixed.gguf")
    types = {t.name: t.tensor_type.name for t in r.tensors}
    two_d = {t.name: t.tensor_type.name for t in r.tensors if len(t.shape) == 2}
    assert sorted(two_d.values()) == sorted(FIXTURE_TYPES)  # each type exactly once
    assert types["token_types.weight"] != "F32" and types["position_embd.weight"] != "F32"
    one_d = {n: ty for n, ty in types.items() if n not in two_d}
    assert all(ty != "F32" for n, ty in one_d.items() if n.endswith("norm.weight"))
    assert {"F16", "BF16", "Q8_0"} <= set(one_d.values())
    assert {"Q6_K", "Q4_K", "IQ4_XS"} <= set(one_d.values())  # K/IQ blocks as biases


@pytest.mark.parametrize("name", SAMPLE)
def test_golden_file(out_dir, tokenizer, name):
    dims, pooling, entries = read_refbin(out_dir / f"{name}.ref.bin")
    ctx = 2048 if "nomic" in name else 64
    assert dims == 256
    assert pooling == (2 if "cls" in name else 1)
    assert [e.text for e in entries] == TEXTS
    for e in entries:
        assert e.ids == tokenizer.encode(e.text, ctx)
        assert np.all(np.isfinite(e.vec))
        assert abs(float(np.linalg.norm(e.vec)) - 1.0) < 1e-5
    long = entries[TEXTS.index(LONG_TEXT)]
    if ctx == 64:
        assert len(long.ids) == 64 and long.ids[0] == 101 and long.ids[-1] == 102
        assert long.ids[1:63] == tokenizer.pieces(LONG_TEXT)[:62]
    else:
        assert len(long.ids) == len(tokenizer.pieces(LONG_TEXT)) + 2
    assert entries[TEXTS.index("")].ids == [101, 102]
    # distinct texts give distinct vectors: the goldens can tell texts apart
    V = np.array([e.vec for e in entries])
    C = V @ V.T
    same_ids = np.array([[a.ids == b.ids for b in entries] for a in entries])
    assert C[~same_ids].max() < 0.9999


def test_generation_is_deterministic(out_dir, tmp_path, vocab_path):
    """--only regenerates the very same bytes (per-tensor seeds)."""
    name = "tiny-nomic-Q6_K"
    assert gen_models.main(["--out", str(tmp_path), "--vocab", str(vocab_path),
                            "--only", name, "-q", "-j", "1"]) == 0
    for suffix in (".gguf", ".ref.bin"):
        a = hashlib.sha256((out_dir / (name + suffix)).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / (name + suffix)).read_bytes()).hexdigest()
        assert a == b, suffix


def test_if_stale_skips_only_when_up_to_date(tmp_path, vocab_path, out_dir):
    name = "tiny-bert-Q4_K"
    for suffix in (".gguf", ".ref.bin"):
        shutil.copy(out_dir / (name + suffix), tmp_path / (name + suffix))
    args = ["--out", str(tmp_path), "--vocab", str(vocab_path), "--only", name, "-q", "-j", "1", "--if-stale"]
    assert gen_models.main(args) == 0  # no stamp yet: regenerates and writes the stamp
    stamp = tmp_path / ".gen_models.stamp"
    assert stamp.is_file()
    mtime = (tmp_path / f"{name}.gguf").stat().st_mtime_ns
    assert gen_models.main(args) == 0
    assert (tmp_path / f"{name}.gguf").stat().st_mtime_ns == mtime  # skipped
    (tmp_path / f"{name}.ref.bin").unlink()
    assert gen_models.main(args) == 0
    assert (tmp_path / f"{name}.ref.bin").is_file()  # a missing output forces regeneration


def test_unknown_model_name_is_an_error(tmp_path, vocab_path, capsys):
    assert gen_models.main(["--out", str(tmp_path), "--vocab", str(vocab_path), "--only", "tiny-bert-Q9"]) == 1
    assert "unknown model" in capsys.readouterr().err


def test_generated_names_match_specs(vocab):
    specs = gen_models.tiny_specs(len(vocab.tokens)) + [gen_models.full_nomic_spec(len(vocab.tokens))]
    assert gen_models.generated_names(True) == [s.name for s in specs]
    assert len(specs) == 2 * 15 + 3


def test_full_nomic_geometry(vocab):
    """nomic-full-F16: 768 wide, 12 layers, n_ff 3072, 12 heads, F16 2-D weights, ~274 MB."""
    s = gen_models.full_nomic_spec(len(vocab.tokens))
    assert (s.n_embd, s.n_layer, s.n_ff, s.n_head, s.n_ctx) == (768, 12, 3072, 12, 2048)
    nbytes = sum((2 if len(t.shape) == 2 else 4) * int(np.prod(t.shape)) for t in s.tensors)
    assert 270e6 < nbytes < 280e6
    assert {s.type_of(t) for t in s.tensors if len(t.shape) == 2} == {"F16"}
    assert len(s.tensors) == 112  # docs/format.md §4.4


def test_tokenizer_examples_from_spec(tokenizer):
    """docs/format.md §5.4 worked examples and the project's plain-text [SEP] policy."""
    big = 1 << 20
    assert tokenizer.encode("Hello world", big) == [101, 7592, 2088, 102]
    assert tokenizer.encode("", big) == [101, 102]
    assert tokenizer.pieces("unaffable") == [14477, 20961, 3468]  # un ##aff ##able
    assert 102 not in tokenizer.encode("a [SEP] b", big)[1:-1]
    assert tokenizer.encode("x" * 101, big) == [101, 100, 102]  # > 100 chars: one [UNK]
    assert tokenizer.encode("a b c d e f", 5) == [101, 1037, 1038, 1039, 102]
