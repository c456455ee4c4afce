#!/usr/bin/env python3
"""Golden token ids and byte spans for the C tokenizer, from Hugging Face tokenizers.

Independent reference: PyPI `tokenizers` configured as bert-base-uncased
(BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None
-> follows lowercase, lowercase=True), BertPreTokenizer, WordPiece with
unk_token "[UNK]", continuing_subword_prefix "##", max_input_chars_per_word
100) over the vocabulary of the GGUF fixture. The GGUF stores the vocabulary in
phantom-space form (spec 5.1); this script undoes it: "▁x" -> "x",
"[..]" unchanged, any other "x" -> "##x".

Special-token policy: the project treats "[SEP]", "[CLS]" etc. in user text as
plain text. HF would match them only if they were registered as added/special
tokens; they are not registered here, so HF tokenizes them as text too. No
post-processor: the cases hold the pieces without [CLS]/[SEP].

Input bytes. Python strings cannot hold ill-formed UTF-8, so each case is a
byte string; HF gets the well-formed characters (a strict decoder that skips
one byte at a time on an ill-formed sequence, which is the C tokenizer's
documented behaviour and equals bytes.decode("utf-8", "ignore")), and its
character offsets are mapped back to byte offsets in the original bytes.

Output (tests/data/tokenizer/goldens.txt): '#' comment lines, then one case per
line, four TAB-separated fields:
    label  input  ids  spans
input: the bytes, printable characters literal, everything else (controls,
whitespace other than ' ', ill-formed bytes, '\\') as \\xHH, backslash as \\\\;
ids: decimal, space-separated; spans: start:end byte offsets, space-separated.

Usage: python3 tests/python/gen_tokenizer_goldens.py [--vocab PATH] [-o PATH] [--check]
       python3 tests/python/gen_tokenizer_goldens.py --seed-corpus DIR
--seed-corpus writes each case's input bytes to DIR/gNNNN (a libFuzzer seed
corpus for fuzz/fuzz_tokenizer) and needs no reference.
"""
import argparse
import hashlib
import os
import random
import sys
import unicodedata as ud

PINNED_TOKENIZERS = "0.23.3"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_VOCAB = os.path.join(ROOT, "tests", "data", "bert-vocab", "ggml-vocab-bert-bge.gguf")
DEFAULT_OUT = os.path.join(ROOT, "tests", "data", "tokenizer", "goldens.txt")


def load_vocab(path):
    from gguf import GGUFReader
    r = GGUFReader(path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    unk = r.fields["tokenizer.ggml.unknown_token_id"].contents() if "tokenizer.ggml.unknown_token_id" in r.fields else 100
    vocab = {}
    for i, t in enumerate(tokens):
        if t.startswith("[") and t.endswith("]"):
            key = t
        elif t.startswith("\u2581"):
            key = t[1:]
        else:
            key = "##" + t
        vocab.setdefault(key, i)  # the C side keeps the lowest id too
    return tokens, vocab, tokens[unk]


def build_tokenizer(vocab, unk_token):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    tk = Tokenizer(models.WordPiece(vocab, unk_token=unk_token, continuing_subword_prefix="##",
                                    max_input_chars_per_word=100))
    tk.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=None, lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tk


def decode_strict(data):
    """Well-formed characters of `data` with their byte ranges; an ill-formed
    byte is skipped alone."""
    chars, starts, ends = [], [], []
    i = 0
    while i < len(data):
        for k in (1, 2, 3, 4):
            try:
                c = data[i:i + k].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(c) == 1:
                chars.append(c)
                starts.append(i)
                ends.append(i + k)
                i += k
                break
        else:
            i += 1
    return "".join(chars), starts, ends


def escape(data):
    out = []
    text, starts, ends = decode_strict(data)
    good = {s: (c, e) for c, s, e in zip(text, starts, ends)}
    i = 0
    while i < len(data):
        if i in good:
            c, e = good[i]
            cat = ud.category(c)
            printable = c == " " or not (cat.startswith("C") or cat.startswith("Z"))
            if c == "\\":
                out.append("\\\\")
            elif printable and (c.isascii() or cat not in ("Cn", "Co", "Cs")):
                out.append(c)
            else:
                out.extend("\\x%02x" % b for b in data[i:e])
            i = e
        else:
            out.append("\\x%02x" % data[i])
            i += 1
    return "".join(out)


# ---- test strings -------------------------------------------------------------

SENTENCES = [
    "Hello world", "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "search_query: What is TSNE?", "search_document: unaffable transformers",
    "Naïve café, TOKYO東京!", "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it",
    "Le cœur a ses raisons que la raison ne connaît point.",
    "Grüße aus München! Die Straße ist schön; übermäßig große Äpfel.",
    "¿Dónde está la biblioteca? ¡Mañana será otro día, señor Muñoz!",
    "Não há coração que não se comova com a canção.",
    "Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "İstanbul'da ılık bir sabah; IĞDIR, ŞİŞLİ, İİ ıI.",
    "Tiếng Việt có dấu: Người ta nói rằng Cửa Việt.",
    "Árvíztűrő tükörfúrógép. Þórður og Ægir. Øl og Åse.",
    "Καλημέρα κόσμε! ΟΔΥΣΣΕΥΣ, ἄνθρωπος, ᾌδης, ΣΊΣΥΦΟΣ.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ґанок і їжак. Ёлка, ЙОД, й.", "нещо на Български",
    "مرحبا بالعالم! اَلسَّلَامُ عَلَيْكُمْ ١٢٣", "שָׁלוֹם עוֹלָם, עברית",
    "سلام دنیا، فارسی", "नमस्ते दुनिया, हिन्दी भाषा।", "হ্যালো বিশ্ব", "வணக்கம் உலகம்",
    "สวัสดีชาวโลก ภาษาไทย", "გამარჯობა მსოფლიო", "Բարեւ աշխարհ", "ሰላም ዓለም",
    "안녕하세요 세계! 한국어 텍스트, 힣.", "こんにちは世界。カタカナとひらがな、漢字。",
    "你好，世界！我想在apple工作1314151天～", "繁體中文與简体中文", "𠀀𠀁𪜀𫠠𫠡𫤟𫤠𬺰",
    "豈更車賈滑串句龜", "丽丸乁", "ＡＢＣ１２３！？", "ｶﾀｶﾅ ﾊﾟﾋﾟ", "ﬁﬂ ﬃ ﬆ", "Ⅻ ⅻ ①②",
    "\u212a \u212b \u2126 \u00b5", "𝐀𝐁𝐂 𝒜 𝔸", "x² H₂O ½ ¾", "€10 £5 ¥100 ₹50 $3.50 ¢",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
    "👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇩🇪 👍🏽 ❤️ ☺︎", "🦙.cpp this is 🦙", "ied 4 ½ months", "Führer",
    "w048 7tuijk dsdfhu", "3.3 3..3 3...3 ------======= ''''''```````\"\"\"\"......!!!!!!??????",
    "https://example.com/path?query=1&x=y#frag", "mailto:someone@example.org",
    "int main(void) { return printf(\"%d\\n\", a[i] << 2); }",
    "def f(x):\n    return {'a': [1, 2.5e-3], \"b\": None}  # comment",
    "{\"key\": \"value\", \"n\": -12.5e+3, \"ok\": true}", "<p class=\"x\">Hi &amp; bye</p>",
    "SELECT embed(text) FROM docs WHERE id = 42;", "C:\\Windows\\System32\\drivers",
    "[SEP]", "[CLS]", "[CLS] hello [SEP] world [SEP]", "[UNK] [MASK] [PAD] [unused0]",
    "text[SEP]text", "[sep] [cls]", "##ing ##s", "\u2581the \u2581\u2581x x\u2581the",
    "unaffable", "tokenization", "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "1234567890 3333333 0.000001 1e10 -42 +7 1,000,000 12:30 2024-01-01",
    "Mr. O'Neil's dog—a beagle—barked…", "“Quoted” ‘single’ «guillemets» „German“",
    "a\u00adb soft\u00adhyphen", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "\u202eright-to-left override\u202c", "tab\there", "line\nbreak", "cr\rlf\r\n",
    "vt\x0bff\x0c", "nel\x85end", "nbsp\u00a0here", "ideo\u3000space", "em\u2003space",
    "line\u2028sep\u2029para", "nul\x00inside", "del\x7fchar", "bell\x07esc\x1b[0m",
    "private\ue000use\U000f0000", "repl\ufffdchar", "nonchar\ufffe\uffff",
    "e\u0301 e\u0300\u0301 o\u0308\u0304 a\u030a", "\u1e9b\u0323 \u0344", "Å Å",
    "x\u0301\u0302\u0303\u0304", "\u0301leading mark", "ǅungla ǈ ǋ", "ß ẞ ﬀ",
    "\U0001d15e\U0001d165\U0001d16d \U0001d160", "a\U0001d165\u0301\U0001d16d\u0316",
    "क्षत्रिय", "ো ৌ ୋ", "\u0f73\u0f75\u0f81", "ᄀ각ᅡ ᆨ",
    "مُحَمَّد", "\u08d3\u08e3\u0898", "\u1ac1x\u1ac2",
]

EMOJI = ["😀", "😁", "😂", "🤣", "😍", "🙏", "👍", "🔥", "🎉", "💯", "🚀", "🦙", "🐍", "✨", "❤", "☕", "⚽", "🌍", "🍕", "🤖"]
SEPARATORS = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", " \n\t ", "\u200b", ""]
INSERTS = ["\u200b", "\u200d", "\u00ad", "\ufeff", "\x00", "\x01", "\x7f", "\ufffd", "\ue000", "\u0301", "\u0327",
           "\u0308", "\u20e3", "\ufe0f", "\u0651", "\U0001d165", "\u3099", "\u2060", "\u034f", "\u0345"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["¡", "¿", "«", "»", "—", "–", "…", "·", "§", "¶", "、", "。", "，", "「", "」", "※", "‰", "†"]


def vocab_words(tokens):
    return [t[1:] for t in tokens if t.startswith("\u2581") and t[1:].isalpha() and t[1:].isascii()]


def rand_cp(rng):
    """A random code point: mostly from the BMP's scripts, some anywhere."""
    r = rng.random()
    if r < 0.4:
        lo, hi = rng.choice([(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF),
                             (0x900, 0xDFF), (0xE00, 0xFFF), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x206F),
                             (0x20A0, 0x22FF), (0x2E80, 0x2FDF), (0x3000, 0x30FF), (0x3400, 0x4DBF),
                             (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFB00, 0xFFFF),
                             (0x1D100, 0x1D1FF), (0x1F300, 0x1FAFF), (0x20000, 0x2FA1F)])
        return rng.randint(lo, hi)
    if r < 0.5:
        return rng.choice([0, 9, 10, 13, 11, 12, 0x85, 0x200B, 0xFEFF, 0xFFFD, 0xE000, 0x2581, 0x130, 0x3A3])
    while True:
        cp = rng.randint(0, 0x10FFFF)
        if not 0xD800 <= cp <= 0xDFFF:
            return cp


def ill_formed(rng):
    return rng.choice([b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\x81", b"\xc2", b"\xe0\x80\x80", b"\xe2\x82",
                       b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
                       b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\xf0\x9f\x98", b"\xe6\x88", b"\xc3(",
                       bytes([rng.randint(0x80, 0xFF)])])


def make_cases(tokens):
    rng = random.Random(20240601)
    words = vocab_words(tokens)
    cases = []
    seen = set()

    def add(label, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if data not in seen:
            seen.add(data)
            cases.append((label, data))

    for s in SENTENCES:
        add("fixed", s)
        add("fixed-nfd", ud.normalize("NFD", s))
        add("fixed-upper", s.upper())
    # Whitespace-only and empty inputs.
    for s in ["", " ", "  ", "\t", "\n", "\n\n\n", "\t\n", " \u00a0\u3000\u2028 ", "\x00", "\ufffd", "\u200b\u200b"]:
        add("blank", s)
    # Word-length limit: 100 characters pass, 101 are [UNK]; counted after normalization.
    for n in (99, 100, 101, 150):
        add("long-ascii", "a" * n)
        add("long-ascii", "x " + "ab" * (n // 2) + "c" * (n % 2) + " y")
        add("long-precomposed", "é" * n)
        add("long-decomposed", "e\u0301" * n)
    add("long-hangul", "한" * 33)     # 99 jamo
    add("long-hangul", "한" * 34)     # 102 jamo -> [UNK]
    add("long-hangul", "가" * 50)     # 100 jamo
    add("long-hangul", "가" * 51)     # 102 jamo
    add("long-dotted-i", "İ" * 100)
    add("long-zwsp", "\u200b".join(["ab"] * 60))
    add("long-word", "antidisestablishmentarianism" * 4)
    add("long-word", "thequickbrownfox" * 6 + " end")
    add("long-digits", "1234567890" * 10)
    add("long-digits", "1234567890" * 10 + "1")
    add("long-marks", "a" + "\U0001d165" * 101)
    add("long-marks", "a" + "\U0001d165\U0001d16d" * 60 + " b")
    # Runs of more than 101 surviving marks that reorder (spans of the first/last).
    add("long-marks", "a" + "\U0001d16d\U0001d165" * 60 + " b")
    add("long-marks", "\U0001d16d\U0001d165" * 60)
    add("long-marks", "x " + "\U0001d16d\u0301\U0001d165\u0316\u0344" * 55 + "!")
    add("long-marks", "\u1e69" + "\U0001d16d\u0316\U0001d165" * 51)
    add("long-whitespace", "a" + " " * 500 + "b" + "\t\n" * 200 + "c")
    # Prose from vocabulary words.
    for _ in range(500):
        n = rng.randint(1, 40)
        out = []
        for i in range(n):
            w = rng.choice(words)
            r = rng.random()
            if r < 0.1:
                w = w.capitalize()
            elif r < 0.13:
                w = w.upper()
            elif r < 0.2:
                w = w + rng.choice(words)  # forces continuation pieces
            out.append(w)
            if rng.random() < 0.12:
                out.append(rng.choice(PUNCT))
            out.append(rng.choice(SEPARATORS) if rng.random() < 0.1 else " ")
        add("prose", "".join(out).strip())
    # Mutated fixed sentences: case, normalization form, insertions, separators.
    for _ in range(500):
        s = rng.choice(SENTENCES)
        form = rng.choice(["NFC", "NFD", "NFKC", "NFKD", None])
        if form:
            s = ud.normalize(form, s)
        chars = list(s)
        for _ in range(rng.randint(0, 4)):
            pos = rng.randint(0, len(chars))
            chars.insert(pos, rng.choice(INSERTS + PUNCT + EMOJI))
        s = "".join(chars)
        if rng.random() < 0.3:
            s = s.replace(" ", rng.choice(SEPARATORS))
        if rng.random() < 0.2:
            s = s.swapcase()
        add("mutated", s)
    # Random code points (with the characters tokenizers treats specially).
    for _ in range(400):
        add("random-cp", "".join(chr(rand_cp(rng)) for _ in range(rng.randint(1, 30))))
    # Combining-mark runs: canonical reordering across kept and dropped marks.
    marks = [0x0301, 0x0316, 0x0327, 0x0334, 0x0345, 0x05B0, 0x0651, 0x0941, 0x093C, 0x1D165, 0x1D16D, 0x1D16E,
             0x302E, 0x1734, 0x1B44, 0x16FF0, 0x08D3, 0x08E3, 0x0898, 0x1AC1, 0x20D0, 0x0F71, 0x0F72, 0x3099]
    for _ in range(200):
        s = rng.choice(["a", "e", "x", "ᄀ", "한", "क", ""]) + "".join(
            chr(rng.choice(marks)) for _ in range(rng.randint(1, 6)))
        add("marks", s + rng.choice(["", " ", "b", "!", "東"]) + rng.choice(["", chr(rng.choice(marks))]))
    # Ill-formed UTF-8 mixed with text.
    for _ in range(200):
        parts = []
        for _ in range(rng.randint(1, 8)):
            r = rng.random()
            if r < 0.4:
                parts.append(ill_formed(rng))
            elif r < 0.7:
                parts.append(rng.choice(words).encode())
            elif r < 0.85:
                parts.append(rng.choice(EMOJI + ["é", "東", "한", " ", "!", "\x00"]).encode())
            else:
                parts.append(bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 6))))
        add("ill-formed", b"".join(parts))
    # Special-token-looking text (plain text by policy).
    for _ in range(100):
        specials = ["[SEP]", "[CLS]", "[UNK]", "[MASK]", "[PAD]", "[unused1]", "[sep]", "[ CLS ]", "##", "▁"]
        add("specials", rng.choice(specials).join(rng.choice(words) for _ in range(rng.randint(1, 4))))
    # Numbers, URLs, code.
    for _ in range(150):
        r = rng.random()
        if r < 0.35:
            s = " ".join(str(rng.choice([rng.randint(0, 10 ** rng.randint(1, 12)), rng.random() * 1000,
                                           -rng.randint(0, 99999)])) for _ in range(rng.randint(1, 8)))
        elif r < 0.7:
            s = "https://%s.%s/%s?%s=%d#%s" % (rng.choice(words), rng.choice(["com", "org", "io", "de"]),
                                              "/".join(rng.choice(words) for _ in range(rng.randint(0, 4))),
                                              rng.choice(words), rng.randint(0, 9999), rng.choice(words))
        else:
            s = "%s_%s = %s(%s[%d]) * 0x%X; // %s" % (rng.choice(words), rng.choice(words).upper(),
                                                     rng.choice(words), rng.choice(words), rng.randint(0, 99),
                                                     rng.randint(0, 65535), rng.choice(words))
        add("code-num-url", s)
    return cases


def generate(vocab_path):
    import tokenizers
    if tokenizers.__version__ != PINNED_TOKENIZERS:
        raise SystemExit("tokenizers %s installed; the goldens are pinned to %s"
                         % (tokenizers.__version__, PINNED_TOKENIZERS))
    tokens, vocab, unk = load_vocab(vocab_path)
    tk = build_tokenizer(vocab, unk)
    cases = make_cases(tokens)
    sha = hashlib.sha256(open(vocab_path, "rb").read()).hexdigest()
    lines = [
        "# tokenizer goldens: GENERATED by tests/python/gen_tokenizer_goldens.py -- do not edit",
        "# reference: tokenizers %s, BertNormalizer(lowercase, strip_accents, chinese, clean_text) +"
        " BertPreTokenizer + WordPiece(##, max 100 chars); specials not registered" % tokenizers.__version__,
        "# vocab: ggml-vocab-bert-bge.gguf sha256 %s" % sha,
        "# cases: %d; fields: label<TAB>input<TAB>ids<TAB>spans (see the generator)" % len(cases),
    ]
    for label, data in cases:
        text, starts, ends = decode_strict(data)
        enc = tk.encode(text, add_special_tokens=False)
        spans = []
        for s, e in enc.offsets:
            if e <= s:
                raise SystemExit("empty offsets for %r" % data)
            spans.append("%d:%d" % (starts[s], ends[e - 1]))
        lines.append("\t".join([label, escape(data), " ".join(map(str, enc.ids)), " ".join(spans)]))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", default=DEFAULT_VOCAB)
    ap.add_argument("-o", "--output", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with the existing file")
    ap.add_argument("--seed-corpus", metavar="DIR", help="write the inputs as fuzzing seeds instead")
    args = ap.parse_args()
    if args.seed_corpus:
        from gguf import GGUFReader
        tokens = GGUFReader(args.vocab).fields["tokenizer.ggml.tokens"].contents()
        os.makedirs(args.seed_corpus, exist_ok=True)
        cases = make_cases(tokens)
        for i, (_, data) in enumerate(cases):
            with open(os.path.join(args.seed_corpus, "g%04d" % i), "wb") as f:
                f.write(data)
        print("wrote %d seeds to %s" % (len(cases), args.seed_corpus))
        return
    text = generate(args.vocab)
    if args.check:
        with open(args.output, encoding="utf-8") as f:
            if f.read() != text:
                raise SystemExit("%s is out of date: rerun %s" % (args.output, sys.argv[0]))
        print("%s is up to date" % args.output)
        return
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (args.output, len(text.encode())))


if __name__ == "__main__":
    main()
