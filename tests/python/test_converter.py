"""tools/convert_hf_to_gguf.py on synthetic Hugging Face checkpoints.

Small random nomic-bert (NomicBertModel layout, vocabulary padded to 30528
rows as the real checkpoint) and BertModel checkpoints are written in the HF
layout; each is converted, the GGUF is checked for names, shapes, types and
keys, and reference_forward.py on the GGUF is compared with reference_hf.py on
the original safetensors (two independent forwards, one through the
converter's name mapping, QKV/fc11/fc12 handling and quantization).
"""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

import convert_hf_to_gguf as conv
import reference_forward as ref
import reference_hf
from gguf_vocab import gguf_to_hf_token, load_gguf_vocab, open_gguf
from hf_tokenize import HfWordPiece
from ref_texts import TEXTS

E, H, FF, L = 64, 4, 128, 2
N_VOCAB_PADDED = 30528

# texts for the forward comparisons: varied lengths incl. the longest one
CMP_TEXTS = [t for t in TEXTS if t][:8] + [max(TEXTS, key=len)]


def _common_files(d, vocab, pooling):
    (d / "vocab.txt").write_text("\n".join(gguf_to_hf_token(t) for t in vocab.tokens) + "\n", encoding="utf-8")
    specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                "cls_token": "[CLS]", "mask_token": "[MASK]"}
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, **specials}))
    (d / "special_tokens_map.json").write_text(json.dumps(specials))
    (d / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (d / "1_Pooling").mkdir()
    (d / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": E, "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False}))


def _rand(rng, *shape, std=0.08, mean=0.0):
    return (rng.standard_normal(shape) * std + mean).astype(np.float32)


NOMIC_CONFIG = {
    "architectures": ["NomicBertModel"], "model_type": "nomic_bert", "activation_function": "swiglu",
    "causal": False, "qkv_proj_bias": False, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
    "prenorm": False, "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False,
    "rotary_emb_scale_base": None, "rotary_emb_base": 1000, "rotary_scaling_factor": None,
    "max_trained_positions": 2048, "n_positions": 8192, "layer_norm_epsilon": 1e-12,
    "n_embd": E, "n_head": H, "n_inner": FF, "n_layer": L, "type_vocab_size": 2,
    "vocab_size": N_VOCAB_PADDED, "pad_vocab_size_multiple": 64,
}


def make_nomic(d, vocab, config=None):
    rng = np.random.default_rng(11)
    d.mkdir(parents=True, exist_ok=True)
    w = {"embeddings.word_embeddings.weight": _rand(rng, N_VOCAB_PADDED, E),
         "embeddings.token_type_embeddings.weight": _rand(rng, 2, E),
         "emb_ln.weight": _rand(rng, E, std=0.1, mean=1.0), "emb_ln.bias": _rand(rng, E, std=0.02),
         "pooler.dense.weight": _rand(rng, E, E), "pooler.dense.bias": _rand(rng, E)}
    for i in range(L):
        p = f"encoder.layers.{i}."
        w[p + "attn.Wqkv.weight"] = _rand(rng, 3 * E, E)
        w[p + "attn.out_proj.weight"] = _rand(rng, E, E)
        w[p + "mlp.fc11.weight"] = _rand(rng, FF, E)
        w[p + "mlp.fc12.weight"] = _rand(rng, FF, E)
        w[p + "mlp.fc2.weight"] = _rand(rng, E, FF)
        for n in ("norm1", "norm2"):
            w[p + n + ".weight"] = _rand(rng, E, std=0.1, mean=1.0)
            w[p + n + ".bias"] = _rand(rng, E, std=0.02)
    save_file(w, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps(config or NOMIC_CONFIG))
    _common_files(d, vocab, "mean")
    return d


def make_bert(d, vocab):
    rng = np.random.default_rng(12)
    d.mkdir(parents=True, exist_ok=True)
    n = len(vocab.tokens)
    w = {"embeddings.word_embeddings.weight": _rand(rng, n, E),
         "embeddings.token_type_embeddings.weight": _rand(rng, 2, E),
         "embeddings.position_embeddings.weight": _rand(rng, 128, E),
         "embeddings.position_ids": np.arange(128, dtype=np.int64)[None],
         "embeddings.LayerNorm.weight": _rand(rng, E, std=0.1, mean=1.0),
         "embeddings.LayerNorm.bias": _rand(rng, E, std=0.02),
         "pooler.dense.weight": _rand(rng, E, E), "pooler.dense.bias": _rand(rng, E)}
    for i in range(L):
        p = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            w[p + m + ".weight"], w[p + m + ".bias"] = _rand(rng, E, E), _rand(rng, E, std=0.02)
        w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"] = _rand(rng, FF, E), _rand(rng, FF, std=0.02)
        w[p + "output.dense.weight"], w[p + "output.dense.bias"] = _rand(rng, E, FF), _rand(rng, E, std=0.02)
        for m in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + m + ".weight"], w[p + m + ".bias"] = _rand(rng, E, std=0.1, mean=1.0), _rand(rng, E, std=0.02)
    save_file(w, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": E, "num_attention_heads": H,
        "intermediate_size": FF, "num_hidden_layers": L, "max_position_embeddings": 128,
        "layer_norm_eps": 1e-12, "type_vocab_size": 2, "vocab_size": n, "hidden_act": "gelu",
        "position_embedding_type": "absolute"}))
    _common_files(d, vocab, "cls")
    return d


@pytest.fixture(scope="module")
def nomic_dir(tmp_path_factory, vocab):
    return make_nomic(tmp_path_factory.mktemp("hf") / "nomic", vocab)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, vocab):
    return make_bert(tmp_path_factory.mktemp("hf") / "bert", vocab)


@pytest.fixture(scope="module")
def converted(nomic_dir, bert_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("gguf")
    files = {}
    for arch, d in (("nomic", nomic_dir), ("bert", bert_dir)):
        for t in ("f32", "f16", "q8_0"):
            files[arch, t] = conv.convert(d, out / f"{arch}.{t}.gguf", t)
    return files


def kv(r, key):
    f = r.fields.get(key)
    return None if f is None else f.contents()


def test_nomic_metadata(converted, vocab):
    r = open_gguf(converted["nomic", "f32"])
    assert kv(r, "general.architecture") == "nomic-bert"
    assert kv(r, "nomic-bert.context_length") == 2048
    assert kv(r, "nomic-bert.embedding_length") == E
    assert kv(r, "nomic-bert.block_count") == L
    assert kv(r, "nomic-bert.feed_forward_length") == FF
    assert kv(r, "nomic-bert.attention.head_count") == H
    assert kv(r, "nomic-bert.attention.layer_norm_epsilon") == pytest.approx(1e-12)
    assert kv(r, "nomic-bert.attention.causal") is False
    assert kv(r, "nomic-bert.pooling_type") == 1
    assert kv(r, "nomic-bert.rope.freq_base") == 1000.0
    assert kv(r, "general.file_type") == 0
    assert kv(r, "tokenizer.ggml.model") == "bert"
    assert kv(r, "tokenizer.ggml.token_type_count") == 2
    for key, want in (("bos", 101), ("eos", 102), ("unknown", 100), ("seperator", 102),
                      ("padding", 0), ("mask", 103)):
        assert kv(r, f"tokenizer.ggml.{key}_token_id") == want, key
    tokens = kv(r, "tokenizer.ggml.tokens")
    types = kv(r, "tokenizer.ggml.token_type")
    assert len(tokens) == N_VOCAB_PADDED
    assert tokens[:30522] == vocab.tokens  # phantom-space form round-trips
    assert tokens[30522:] == [f"[PAD{i}]" for i in range(30522, N_VOCAB_PADDED)]
    assert [i for i, t in enumerate(types) if t == 3] == [0, 100, 101, 102, 103]
    assert set(types[30522:]) == {5} and set(types[1:100]) == {1}


def test_nomic_tensors(converted):
    want = {"token_embd.weight": [E, N_VOCAB_PADDED], "token_types.weight": [E, 2],
            "token_embd_norm.weight": [E], "token_embd_norm.bias": [E]}
    for i in range(L):
        b = f"blk.{i}."
        want |= {b + "attn_qkv.weight": [E, 3 * E], b + "attn_output.weight": [E, E],
                 b + "ffn_up.weight": [E, FF], b + "ffn_gate.weight": [E, FF], b + "ffn_down.weight": [FF, E],
                 b + "attn_output_norm.weight": [E], b + "attn_output_norm.bias": [E],
                 b + "layer_output_norm.weight": [E], b + "layer_output_norm.bias": [E]}
    for t, qname in (("f32", "F32"), ("f16", "F16"), ("q8_0", "Q8_0")):
        r = open_gguf(converted["nomic", t])
        got = {x.name: [int(v) for v in x.shape] for x in r.tensors}
        assert got == want  # pooler dropped, nothing else added
        for x in r.tensors:
            keep_f32 = len(x.shape) == 1 or x.name == "token_types.weight"
            assert x.tensor_type.name == ("F32" if keep_f32 else qname), (t, x.name)


def test_bert_metadata_and_tensors(converted):
    r = open_gguf(converted["bert", "q8_0"])
    assert kv(r, "general.architecture") == "bert"
    assert kv(r, "bert.context_length") == 128
    assert kv(r, "bert.pooling_type") == 2
    assert kv(r, "general.file_type") == 7
    assert kv(r, "bert.rope.freq_base") is None
    names = {x.name: x for x in r.tensors}
    assert "position_embd.weight" in names and len(names) == 5 + 16 * L
    assert not any("pooler" in n or "position_ids" in n for n in names)
    assert names["position_embd.weight"].tensor_type.name == "F32"
    assert names["token_embd.weight"].tensor_type.name == "Q8_0"
    assert names["blk.1.ffn_down.weight"].tensor_type.name == "Q8_0"
    assert names["blk.1.ffn_down.bias"].tensor_type.name == "F32"


# (arch, outtype) -> minimum cosine between the two forwards
THRESHOLDS = {"f32": 1 - 1e-9, "f16": 0.9999, "q8_0": 0.999}


@pytest.mark.parametrize("arch", ["nomic", "bert"])
@pytest.mark.parametrize("outtype", ["f32", "f16", "q8_0"])
def test_gguf_forward_equals_hf_forward(converted, nomic_dir, bert_dir, arch, outtype):
    hf = reference_hf.HfModel(nomic_dir if arch == "nomic" else bert_dir)
    m = ref.GgufModel(converted[arch, outtype])
    tok = HfWordPiece(load_gguf_vocab(converted[arch, outtype], m.reader))
    cos = []
    for text in CMP_TEXTS:
        ids = tok.encode(text, m.hp.n_ctx)
        if outtype == "f32":  # same float32 weights: the hidden states agree to rounding
            a, b = ref.forward(m, ids), hf.hidden_states(ids)
            assert np.abs(a - b).max() < 1e-9, text
        cos.append(float(ref.embed(m, ids) @ hf.embed(ids)))
    worst = int(np.argmin(cos))
    print(f"{arch} {outtype}: min cosine {cos[worst]:.9f} mean {np.mean(cos):.9f}")
    assert cos[worst] >= THRESHOLDS[outtype], f"text {CMP_TEXTS[worst]!r}: cosine {cos[worst]}"


def test_swapped_gate_is_detected(nomic_dir, converted):
    """The HF-layout forward really checks fc11/fc12: swapping them changes the vector."""
    hf = reference_hf.HfModel(nomic_dir)
    for i in range(L):
        p = f"encoder.layers.{i}.mlp."
        hf.w[p + "fc11.weight"], hf.w[p + "fc12.weight"] = hf.w[p + "fc12.weight"], hf.w[p + "fc11.weight"]
    m = ref.GgufModel(converted["nomic", "f32"])
    ids = [101, 7592, 2088, 102]
    assert float(ref.embed(m, ids) @ hf.embed(ids)) < 0.999


@pytest.mark.parametrize("key,value", [("prenorm", True), ("rotary_emb_interleaved", True),
                                       ("activation_function", "gelu"), ("qkv_proj_bias", True),
                                       ("rotary_emb_fraction", 0.5)])
def test_unsupported_nomic_config_is_rejected(tmp_path, vocab, key, value):
    d = make_nomic(tmp_path / "m", vocab, {**NOMIC_CONFIG, key: value})
    with pytest.raises(conv.ConversionError, match=key):
        conv.convert(d, tmp_path / "out.gguf", "f32")
    assert not (tmp_path / "out.gguf").exists()


def test_unmapped_tensor_is_rejected(tmp_path, vocab):
    d = make_nomic(tmp_path / "m", vocab)
    from safetensors.numpy import load_file
    w = load_file(str(d / "model.safetensors"))
    w["encoder.layers.0.attn.rotary.inv_freq_extra"] = np.zeros((4, 4), dtype=np.float32)
    save_file(w, str(d / "model.safetensors"))
    with pytest.raises(conv.ConversionError, match="rotary.inv_freq_extra"):
        conv.convert(d, tmp_path / "out.gguf", "f16")


def test_max_pooling_is_rejected(tmp_path, vocab):
    d = make_nomic(tmp_path / "m", vocab)
    (d / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
    with pytest.raises(conv.ConversionError, match="pooling"):
        conv.convert(d, tmp_path / "out.gguf", "f16")


def test_vocabulary_from_tokenizer_json(tmp_path, vocab, converted):
    """Without vocab.txt the WordPiece vocabulary of tokenizer.json is used."""
    d = make_nomic(tmp_path / "m", vocab)
    hf = (d / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    (d / "vocab.txt").unlink()
    (d / "tokenizer.json").write_text(json.dumps({
        "added_tokens": [{"id": i, "content": hf[i], "special": True} for i in (0, 100, 101, 102, 103)],
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {t: i for i, t in enumerate(hf)}}}))
    out = conv.convert(d, tmp_path / "out.gguf", "f32")
    a, b = open_gguf(out), open_gguf(converted["nomic", "f32"])
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type"):
        assert kv(a, key) == kv(b, key), key


def test_cli_reports_errors(tmp_path, capsys):
    assert conv.main([str(tmp_path), "--outfile", str(tmp_path / "x.gguf")]) == 1
    assert "no config.json" in capsys.readouterr().err
