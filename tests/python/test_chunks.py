"""embed_chunks(model, text [, options]) through the sqlite3 shell, checked
independently with Hugging Face `tokenizers` (hf_tokenize.py):

* chunks cover the text without gaps (no overlap: end of one = start of the
  next), the first starts at 0 and the last ends at the text's length;
* each chunk's text is exactly the bytes [start, end) of the input (random
  texts with multi-byte UTF-8, CJK, combining marks, emoji, controls);
* each chunk re-tokenized by HF has `tokens` tokens, at most max_tokens;
* no chunk boundary falls inside a word: the HF pieces of the chunks, one
  after the other, are the HF pieces of the whole text;
* overlap: consecutive chunks share at least `overlap` pieces;
* boundaries prefer paragraph breaks and sentence ends when close;
* with the real all-MiniLM-L6-v2: embedding each chunk in a join equals
  embed() of the chunk's text, and a ~2,000-token document is found by a
  query about its last paragraph (which embed() of the whole document, cut
  at 512 tokens, cannot see).
"""
import json
import random

import numpy as np
import pytest

from conftest import FIXTURES, REPO, run_sql
from hf_tokenize import from_gguf

MINILM = FIXTURES / "models" / "all-MiniLM-L6-v2.f32.gguf"


def hex_text(b: bytes) -> str:
    return f"CAST(X'{b.hex()}' AS TEXT)"


def sql_str(s) -> str:
    return "'" + str(s).replace("'", "''") + "'"


WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "embedding", "unbelievably",
         "tokenization", "antidisestablishmentarianism", "café", "naïve", "Ünïcödé", "Ωμέγα", "русский",
         "日本語", "中文字", "한국어", "🙂", "e\u0301te\u0301", "x\u200by", "don't", "U.S.A.", "3.14159",
         "a" * 120, "hello-world", "C++", "e-mail", "¿qué?", "—", "…"]
SEPARATORS = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", "\u3000", ". ", ", ", "! ", "? ", "。", ".\n\n", " \u0301"]


def random_text(rng: random.Random, n_words: int) -> str:
    parts = []
    for _ in range(n_words):
        parts.append(rng.choice(WORDS))
        parts.append(rng.choice(SEPARATORS))
    if rng.random() < 0.5:
        parts.insert(0, rng.choice([" ", "\n", "\u3000 "]))
    return "".join(parts)


def chunk_rows(model_sql: str, texts: list[bytes], options: dict | None, extra_sql: str = ""):
    """embed_chunks rows of each text: {i, start, end, hex, tokens}, per text."""
    opt = f", {sql_str(json.dumps(options))}" if options is not None else ""
    selects = " UNION ALL ".join(
        f"SELECT {k} AS k, c.i, c.start, c.\"end\" AS e, hex(c.text) AS h, c.tokens "
        f"FROM embed_chunks({model_sql}, {hex_text(t)}{opt}) c" for k, t in enumerate(texts))
    rc, out, err = run_sql(EXT, extra_sql + f"SELECT * FROM ({selects}) ORDER BY k, i;")
    assert rc == 0, err
    rows = json.loads(out) if out.strip() else []
    per = [[] for _ in texts]
    for r in rows:
        per[r["k"]].append(r)
    return per


EXT = None


@pytest.fixture(scope="module", autouse=True)
def _ext(extension_path):
    global EXT
    EXT = extension_path


@pytest.fixture(scope="module")
def hf(vocab_path):
    return from_gguf(vocab_path)


def check_chunks(hf, text: bytes, rows, max_tokens: int, overlap: int):
    assert rows, "every text has at least one chunk"
    assert [r["i"] for r in rows] == list(range(len(rows)))
    assert rows[0]["start"] == 0 and rows[-1]["e"] == len(text)
    for a, b in zip(rows, rows[1:]):
        assert a["start"] < b["start"] <= a["e"], "chunks advance and leave no gap"
        if overlap == 0:
            assert b["start"] == a["e"]
    all_pieces = hf.pieces(text.decode("utf-8"))
    joined = []
    for r in rows:
        chunk = text[r["start"]:r["e"]]
        assert bytes.fromhex(r["h"]) == chunk, "the chunk's text is its span of the input"
        pieces = hf.pieces(chunk.decode("utf-8"))
        assert r["tokens"] == len(pieces) + 2 <= max_tokens
        joined.append(pieces)
    if overlap == 0:
        assert [p for ps in joined for p in ps] == all_pieces, "a boundary fell inside a word"
    else:
        overlaps = []
        for a, b in zip(rows, rows[1:]):
            shared = hf.pieces(text[b["start"]:a["e"]].decode("utf-8"))
            # the rule: restart at the latest word start that repeats >= overlap
            # pieces, else at the first word start after the chunk's start
            pa_str = hf.piece_strings(text[a["start"]:a["e"]].decode("utf-8"))
            starts = [j for j in range(1, len(pa_str)) if not pa_str[j].startswith("##")]
            eligible = [j for j in starts if j <= len(pa_str) - overlap]
            restart = max(eligible) if eligible else min(starts, default=len(pa_str))
            assert len(shared) == len(pa_str) - restart
            # the shared pieces are the end of the earlier chunk and the start of the later one
            pa = hf.pieces(text[a["start"]:a["e"]].decode("utf-8"))
            pb = hf.pieces(text[b["start"]:b["e"]].decode("utf-8"))
            assert pa[len(pa) - len(shared):] == shared == pb[:len(shared)]
            overlaps.append(len(shared))
        if len(rows) > 3:
            assert sorted(overlaps)[len(overlaps) // 2] >= overlap, "the overlap is honoured as a rule"
        # without the repeated parts the pieces are the whole text's
        rebuilt = hf.pieces(text[rows[0]["start"]:rows[0]["e"]].decode("utf-8"))
        for a, b in zip(rows, rows[1:]):
            rebuilt += hf.pieces(text[a["e"]:b["e"]].decode("utf-8"))
        assert rebuilt == all_pieces, "a boundary fell inside a word"


@pytest.mark.parametrize("max_tokens,overlap", [(3, 0), (8, 0), (16, 3), (64, 0), (64, 16), (130, 0)])
def test_random_texts_properties(hf, vocab_path, max_tokens, overlap):
    rng = random.Random(1000 * max_tokens + overlap)
    texts = [random_text(rng, rng.choice([0, 1, 5, 40, 200])).encode("utf-8") for _ in range(25)]
    texts += [b"", b"   \n ", "日本語のテキスト。次の文。".encode("utf-8") * 10]
    if max_tokens < 102:
        # one 120-character word is one [UNK] piece, so it still fits; but a
        # word of many pieces can be longer than a small window
        texts = [t for t in texts if max(len(hf.pieces(w)) for w in t.decode().split() or [""]) <= max_tokens - 2]
    rows = chunk_rows(sql_str(vocab_path), texts, {"max_tokens": max_tokens, "overlap": overlap})
    for text, r in zip(texts, rows):
        check_chunks(hf, text, r, max_tokens, overlap)


def test_sentence_and_paragraph_boundaries(hf, vocab_path):
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "river", "stone", "light", "garden"]

    def sentence():
        return " ".join(rng.choice(words) for _ in range(rng.randint(4, 9))).capitalize() + "."

    # Sentences of at most 10 pieces, windows of 62 pieces: a sentence end
    # always falls in the window's last quarter.
    prose = " ".join(sentence() for _ in range(120)).encode()
    # Paragraphs of at most 30 pieces, windows of 64: one always ends in the second half.
    paragraphs = "\n\n".join(" ".join(sentence() for _ in range(3)) for _ in range(40)).encode()
    rows_s, rows_p = chunk_rows(sql_str(vocab_path), [prose, paragraphs], {"max_tokens": 64})
    check_chunks(hf, prose, rows_s, 64, 0)
    check_chunks(hf, paragraphs, rows_p, 64, 0)
    assert len(rows_s) > 5 and len(rows_p) > 5
    for r in rows_s[:-1]:
        assert bytes.fromhex(r["h"]).endswith(b". ")
    for r in rows_p[:-1]:
        assert bytes.fromhex(r["h"]).endswith(b".\n\n")


def test_errors(vocab_path):
    cases = [
        ("'{\"max_tokens\":2}'", "max_tokens 2, minimum 3"),
        ("'{\"max_tokens\":10,\"overlap\":8}'", "overlap 8 must be less than max_tokens - 2 = 8"),
        ("'{\"max_tok\":10}'", "unknown option \"max_tok\""),
        ("'[1]'", "options must be a JSON object, got array"),
        ("'{\"max_tokens\":-4}'", "option max_tokens must be a positive integer, got -4"),
        ("NULL", "is a file, not a registered model: give max_tokens"),
    ]
    for opt, msg in cases:
        rc, out, err = run_sql(EXT, f"SELECT * FROM embed_chunks({sql_str(vocab_path)}, 'some text', {opt});")
        assert rc != 0 and msg in err, (opt, err)
    rc, out, err = run_sql(EXT, f"SELECT * FROM embed_chunks({sql_str(vocab_path)}, '{'a' * 90}', "
                                "'{\"max_tokens\":4}');")
    assert rc != 0 and "the word at byte 0 has more than 2 pieces" in err, err
    rc, out, err = run_sql(EXT, "SELECT * FROM embed_chunks('nope', 'text');")
    assert rc != 0 and "'nope' is not a registered model" in err, err
    rc, out, err = run_sql(EXT, f"SELECT count(*) AS n FROM embed_chunks({sql_str(vocab_path)}, NULL, "
                                "'{\"max_tokens\":8}');")
    assert rc == 0 and json.loads(out) == [{"n": 0}], err


# ---- the real all-MiniLM-L6-v2 -----------------------------------------------------------

needs_minilm = pytest.mark.skipif(not MINILM.is_file(), reason=f"{MINILM} not generated (gen_models --minilm)")
REGISTER = f"INSERT INTO embed_models(name, path) VALUES ('m', {sql_str(MINILM)}); "


@needs_minilm
def test_chunk_embeddings_equal_embed_of_their_text():
    rng = random.Random(3)
    doc = random_text(rng, 900)
    rc, out, err = run_sql(EXT, REGISTER + "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT); "
                           f"INSERT INTO docs VALUES (1, {hex_text(doc.encode())}), (2, 'short one'); "
                           "SELECT d.id, c.i, c.tokens, hex(c.text) AS h, hex(embed('m', c.text)) AS v "
                           "FROM docs d, embed_chunks('m', d.body) c ORDER BY d.id, c.i;")
    assert rc == 0, err
    rows = json.loads(out)
    # the default window is what embed() keeps: the converted MiniLM's
    # sentence-transformers max_seq_length, 256 (sentence_bert_config.json),
    # not its 512 positions; filled up to a whitespace boundary
    assert [r["id"] for r in rows].count(1) >= 3 and 230 <= max(r["tokens"] for r in rows) <= 256
    again = " UNION ALL ".join(f"SELECT {k} AS k, hex(embed('m', CAST(X'{r['h']}' AS TEXT))) AS v"
                               for k, r in enumerate(rows))
    rc, out, err = run_sql(EXT, REGISTER + f"SELECT v FROM ({again}) ORDER BY k;")
    assert rc == 0, err
    assert [r["v"] for r in json.loads(out)] == [r["v"] for r in rows]
    # composed with the bulk path: the same vectors to float rounding (several
    # texts per matrix product sum in another order)
    rc, out, err = run_sql(EXT, REGISTER + "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT); "
                           f"INSERT INTO docs VALUES (1, {hex_text(doc.encode())}), (2, 'short one'); "
                           "SELECT b.i, hex(b.vector) AS v FROM embed_batch('m', (SELECT json_group_array(c.text) "
                           "FROM docs d, embed_chunks('m', d.body) c)) b ORDER BY b.i;")
    assert rc == 0, err
    batch = [np.frombuffer(bytes.fromhex(r["v"]), "<f4") for r in json.loads(out)]
    single = [np.frombuffer(bytes.fromhex(r["v"]), "<f4") for r in rows]
    assert len(batch) == len(single)
    assert max(float(np.abs(a - b).max()) for a, b in zip(batch, single)) < 1e-5


LAST_PARAGRAPH = ("Beekeepers in the valley harvest their honey every autumn. They calm the bees with a "
                  "little smoke, lift the wax frames heavy with honey out of the hives, slice off the caps "
                  "and spin the frames in an extractor before the honey is strained and bottled.")


@needs_minilm
def test_long_document_found_by_its_last_paragraph(hf):
    corpus = sorted((REPO / "examples" / "node-semantic-search" / "corpus").glob("*.txt"))
    texts = [p.read_text() for p in corpus]
    body = "\n\n".join(texts + texts[::-1])  # two passes over the excerpts: ~2,000 tokens
    doc = body + "\n\n" + LAST_PARAGRAPH
    n_tokens = len(hf.pieces(doc)) + 2
    assert 1900 <= n_tokens <= 3000, n_tokens
    others = " ".join(f"({k + 2}, {sql_str(t)})," for k, t in enumerate(texts))
    sql = (REGISTER +
           "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT); "
           f"INSERT INTO docs VALUES {others} (1, {sql_str(doc)}); "
           "CREATE TABLE chunks AS SELECT d.id AS doc, c.i, c.start, c.\"end\" AS e, c.tokens, "
           "  embed('m', c.text) AS v FROM docs d, embed_chunks('m', d.body, '{\"max_tokens\":256,\"overlap\":32}') c; "
           "SELECT doc, i, start, e, tokens, "
           "  embed_similarity(v, embed('m', 'how do beekeepers get honey out of the hives?')) AS score "
           "FROM chunks ORDER BY score DESC LIMIT 3; "
           "SELECT count(*) AS n, max(tokens) AS mx FROM chunks WHERE doc = 1; "
           "SELECT embed_similarity(embed('m', body), embed('m', 'how do beekeepers get honey out of the hives?')) "
           "  AS whole FROM docs WHERE id = 1;")
    rc, out, err = run_sql(EXT, sql, json_mode=True)
    assert rc == 0, err
    parts = [json.loads(x) for x in out.replace("]\n[", "]\x00[").split("\x00")]
    top, counts, whole = parts
    assert counts[0]["n"] >= 4 and counts[0]["mx"] <= 256
    best = top[0]
    assert best["doc"] == 1 and best["i"] == counts[0]["n"] - 1, (top, whole)
    raw = doc.encode()
    assert raw[best["start"]:best["e"]].endswith(LAST_PARAGRAPH.encode())
    # The whole document through embed() is cut at 512 tokens and never sees the paragraph.
    assert whole[0]["whole"] < best["score"] - 0.2, (whole, best)
    assert np.isfinite(best["score"])
