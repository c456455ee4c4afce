#!/usr/bin/env python3
"""Generate src/unicode_data.c: the per-code-point tables of the BERT tokenizer.

The tokenizer follows Hugging Face `tokenizers` (BertNormalizer + BertPreTokenizer
+ WordPiece; project policy, spec section 5). Its character classes are:

  DROP   removed by clean_text: NUL, U+FFFD, and "control" = general category
         Cc, Cf or Co, except TAB, LF, CR (tokenizers' is_control uses
         unicode_categories' is_other(), which is Cc|Cf|Co)
  SPACE  mapped to ' ' by clean_text and split on by the pre-tokenizer:
         TAB, LF, CR or the White_Space property (Rust char::is_whitespace);
         DROP wins where both hold (VT, FF, U+0085 are Cc and are removed)
  CJK    isolated by handle_chinese_chars; the ranges are tokenizers'
         is_chinese_char (note 0x2B920, not the 0x2B820 of transformers' slow
         BertTokenizer)
  PUNCT  isolated by the pre-tokenizer: ASCII punctuation (33-47, 58-64,
         91-96, 123-126) or general category P*
  MN     removed after NFD by strip_accents: general category Mn
  plus   the full canonical decomposition (NFD; Hangul syllables are left to the
         algorithm in unicode.c), the canonical combining class (for canonical
         reordering) and the lowercase mapping (Rust char::to_lowercase, which
         may give several code points: U+0130 -> "i" U+0307).

Source of truth. Each property is first computed from Python's `unicodedata`
(the Unicode version is pinned below). `tokenizers` itself, though, mixes
Unicode versions: its category tests come from the `unicode_categories` crate
(Unicode 8.0 data: Mn/Cf marks added since are *kept*), its NFD from
`unicode-normalization-alignments` (older than 13.0), its lowercase and
whitespace from the Rust standard library (newer than 14.0). Because the
project follows Hugging Face, the generator then probes the pinned `tokenizers`
release on every code point, property by property, and takes its answer where
the two disagree. The number of such overrides per property is written into
the generated file. `--unicode-only` skips the probe (pure Unicode tables).

Finally every code point is run through the complete per-character pipeline
built from the final tables and compared with tokenizers' BertNormalizer and
BertPreTokenizer on that character; the generator fails on any difference.

Usage:  python3 tools/gen_unicode_tables.py [-o src/unicode_data.c]
        [--unicode-only] [--allow-version-mismatch] [--check]
--check compares the output with the existing file instead of writing it
(exit status 1 if they differ).
"""
import argparse
import sys
import unicodedata as ud

PINNED_UNICODE = "14.0.0"
PINNED_TOKENIZERS = "0.23.3"

F_DROP, F_SPACE, F_CJK, F_PUNCT, F_MN, F_NFD, F_LOWER, F_CCC = (1 << i for i in range(8))

MAX_CP = 0x110000
HANGUL_S_BASE, HANGUL_S_COUNT = 0xAC00, 11172

# Unicode PropList.txt White_Space (unchanged since Unicode 6.3); Python's
# unicodedata does not expose the property.
WHITE_SPACE = set([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680]
                  + list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


def is_hangul_syllable(cp):
    return HANGUL_S_BASE <= cp < HANGUL_S_BASE + HANGUL_S_COUNT


def is_cjk(cp):
    return any(a <= cp <= b for a, b in CJK_RANGES)


def is_ascii_punct(cp):
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126


class Props:
    """Per-code-point properties; lists indexed by code point."""

    def __init__(self):
        self.drop = [False] * MAX_CP
        self.space = [False] * MAX_CP
        self.cjk = [False] * MAX_CP
        self.punct = [False] * MAX_CP
        self.mn = [False] * MAX_CP
        self.nfd = [None] * MAX_CP      # tuple of code points, None if identity
        self.lower = [None] * MAX_CP    # tuple of code points, None if identity
        self.ccc = [0] * MAX_CP


def unicode_props():
    p = Props()
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            p.drop[cp] = True
            continue
        c = chr(cp)
        cat = ud.category(c)
        p.drop[cp] = cp in (0, 0xFFFD) or (cp not in (9, 10, 13) and cat in ("Cc", "Cf", "Co"))
        p.space[cp] = cp in WHITE_SPACE
        p.cjk[cp] = is_cjk(cp)
        p.punct[cp] = is_ascii_punct(cp) or cat.startswith("P")
        p.mn[cp] = cat == "Mn"
        d = ud.normalize("NFD", c)
        if d != c:
            p.nfd[cp] = tuple(map(ord, d))
        low = c.lower()
        if low != c:
            p.lower[cp] = tuple(map(ord, low))
        p.ccc[cp] = ud.combining(c)
    return p


class HF:
    """Single-character probes of the installed `tokenizers`."""

    def __init__(self):
        from tokenizers import normalizers, pre_tokenizers
        self.clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                                strip_accents=False, lowercase=False)
        self.chinese = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True,
                                                  strip_accents=False, lowercase=False)
        self.full = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=True, lowercase=True)
        # Not normalizers.StripAccents: that one tests another mark table.
        self.strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                strip_accents=True, lowercase=False)
        self.nfd = normalizers.NFD()
        self.lower = normalizers.Lowercase()
        self.pretok = pre_tokenizers.BertPreTokenizer()

    def split(self, s):
        return [w for w, _ in self.pretok.pre_tokenize_str(s)]


def hf_props(base, hf, log):
    """Copy of `base` with tokenizers' answer wherever it differs; logs counts."""
    p = Props()
    counts = {}

    def note(name, cp):
        counts.setdefault(name, []).append(cp)

    for cp in range(MAX_CP):
        if is_surrogate(cp):
            p.drop[cp] = True
            continue
        c = chr(cp)
        cleaned = hf.clean.normalize_str(c)
        drop = cleaned == ""
        space = (cleaned == " ") and not drop
        # DROP wins over SPACE in both models; compare the effective classes.
        if drop != base.drop[cp]:
            note("drop", cp)
        if space != (base.space[cp] and not base.drop[cp]):
            note("space", cp)
        p.drop[cp] = drop
        p.space[cp] = space
        cjk = hf.chinese.normalize_str(c) == " " + c + " "
        if cjk != base.cjk[cp]:
            note("cjk", cp)
        p.cjk[cp] = cjk
        d = hf.nfd.normalize_str(c)
        d = tuple(map(ord, d)) if d != c else None
        # The mark test runs after NFD, so it only ever sees code points
        # without a decomposition; only those can be (and need be) probed.
        mn = hf.strip.normalize_str(c) == "" if d is None else base.mn[cp]
        if mn != base.mn[cp]:
            note("mn", cp)
        p.mn[cp] = mn
        if d != base.nfd[cp]:
            note("nfd", cp)
        p.nfd[cp] = d
        low = hf.lower.normalize_str(c)
        low = tuple(map(ord, low)) if low != c else None
        if low != base.lower[cp]:
            note("lower", cp)
        p.lower[cp] = low
        words = hf.split("a" + c + "a")
        punct = words == ["a", c, "a"]
        if punct != base.punct[cp]:
            note("punct", cp)
        p.punct[cp] = punct
        if words == ["a", "a"] and not (space or drop or base.space[cp]):
            raise SystemExit("U+%04X: the pre-tokenizer splits on it but clean_text keeps it" % cp)
    # Canonical combining classes are stable once assigned, so tokenizers'
    # normalizer either knows a mark (same class) or predates it (class 0).
    # Probe each mark against a reference mark: U+0334 (class 1) or U+0301 (230).
    for cp in range(MAX_CP):
        ccc = p.ccc[cp] = base.ccc[cp]
        # A code point with a decomposition never reaches reordering itself.
        if ccc == 0 or is_surrogate(cp) or p.nfd[cp] is not None:
            continue
        c = chr(cp)
        if ccc > 1:
            known = hf.nfd.normalize_str("a" + c + "\u0334") == "a\u0334" + c
        else:
            known = hf.nfd.normalize_str("a\u0301" + c) == "a" + c + "\u0301"
        p.ccc[cp] = ccc if known else 0
        if not known:
            note("ccc", cp)
    log["overrides"] = counts
    return p


def final_flags(p):
    flags = bytearray(MAX_CP)
    for cp in range(MAX_CP):
        f = 0
        if p.drop[cp]:
            f |= F_DROP
        elif p.space[cp]:
            f |= F_SPACE
        if p.cjk[cp]:
            f |= F_CJK
        if p.punct[cp]:
            f |= F_PUNCT
        if p.mn[cp]:
            f |= F_MN
        if p.nfd[cp] is not None or is_hangul_syllable(cp):
            f |= F_NFD
        if p.lower[cp] is not None:
            f |= F_LOWER
        if p.ccc[cp]:
            f |= F_CCC
        flags[cp] = f
    return flags


def hangul_nfd(cp):
    s = cp - HANGUL_S_BASE
    out = [0x1100 + s // 588, 0x1161 + (s % 588) // 28]
    if s % 28:
        out.append(0x11A7 + s % 28)
    return tuple(out)


def decompose(p, cp):
    if is_hangul_syllable(cp):
        return hangul_nfd(cp)
    return p.nfd[cp] if p.nfd[cp] is not None else (cp,)


def simulate(p, flags, text):
    """The per-character pipeline of tokenizer.c, in Python, on final tables:
    returns the pre-tokenized words."""
    words, cur, pending = [], [], []

    def end_word():
        if cur:
            words.append("".join(map(chr, cur)))
            cur.clear()

    def emit(cp):
        for low in (p.lower[cp] or (cp,)):
            if flags[low] & F_PUNCT:
                end_word()
                words.append(chr(low))
            else:
                cur.append(low)

    def flush():
        for cp in sorted(pending, key=lambda x: p.ccc[x]):  # stable
            emit(cp)
        pending.clear()

    for ch in text:
        cp = ord(ch)
        f = flags[cp]
        if f & F_DROP:
            continue
        if f & F_SPACE:
            flush()
            end_word()
            continue
        if f & F_CJK:
            flush()
            end_word()
        for d in decompose(p, cp):
            if p.ccc[d] == 0:
                flush()
                if not flags[d] & F_MN:
                    emit(d)
            elif not flags[d] & F_MN:
                pending.append(d)
        if f & F_CJK:
            flush()
            end_word()
    flush()
    end_word()
    return words


def check_invariants(p, flags):
    max_nfd = max_lower = 0
    for cp in range(MAX_CP):
        if flags[cp] & (F_DROP | F_SPACE):
            continue
        for d in decompose(p, cp):
            if flags[d] & (F_DROP | F_SPACE):
                raise SystemExit("U+%04X decomposes to U+%04X, which clean_text would change" % (cp, d))
            if p.nfd[d] is not None or is_hangul_syllable(d):
                raise SystemExit("U+%04X: decomposition not full at U+%04X" % (cp, d))
        if p.nfd[cp] is not None:
            max_nfd = max(max_nfd, len(p.nfd[cp]))
        if p.lower[cp] is not None:
            max_lower = max(max_lower, len(p.lower[cp]))
            for low in p.lower[cp]:
                if flags[low] & (F_DROP | F_SPACE):
                    raise SystemExit("U+%04X lowercases to U+%04X, a control/space" % (cp, low))
        if p.ccc[cp] and p.lower[cp] is not None:
            raise SystemExit("U+%04X has a lowercase mapping and a nonzero combining class" % cp)
        if p.ccc[cp] and flags[cp] & F_PUNCT:
            raise SystemExit("U+%04X is punctuation with a nonzero combining class" % cp)
    return max_nfd, max_lower


def verify_against_hf(p, flags, hf):
    """Every code point through the whole pipeline vs tokenizers; plus all
    pairs of kept combining marks (canonical reordering)."""
    bad = []
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            continue
        c = chr(cp)
        for text in (c, "a" + c + "b"):
            want = hf.split(hf.full.normalize_str(text))
            got = simulate(p, flags, text)
            if want != got:
                bad.append((cp, text, want, got))
    marks = [cp for cp in range(MAX_CP) if p.ccc[cp] and not flags[cp] & (F_MN | F_DROP)]
    for x in marks:
        for y in marks:
            text = "a" + chr(x) + chr(y)
            want = hf.split(hf.full.normalize_str(text))
            got = simulate(p, flags, text)
            if want != got:
                bad.append((x, text, want, got))
    if bad:
        for cp, text, want, got in bad[:20]:
            print("mismatch U+%04X %r: tokenizers %r, tables %r" % (cp, text, want, got), file=sys.stderr)
        raise SystemExit("%d mismatches against tokenizers" % len(bad))
    return len(marks)


def ranges_of(values, keep):
    """[(first, last, value)] runs of equal values for which keep(value)."""
    out = []
    start = 0
    for cp in range(1, MAX_CP + 1):
        if cp == MAX_CP or values[cp] != values[start]:
            if keep(values[start]):
                out.append((start, cp - 1, values[start]))
            start = cp
    return out


def emit_c(p, flags, meta):
    # Two-stage flag table: STAGE1[cp >> 8] selects a 256-entry block.
    blocks, index = [], {}
    stage1 = []
    for hi in range(MAX_CP >> 8):
        blk = bytes(flags[hi << 8:(hi + 1) << 8])
        if blk not in index:
            index[blk] = len(blocks)
            blocks.append(blk)
        stage1.append(index[blk])
    assert len(blocks) <= 256
    ccc_ranges = ranges_of(p.ccc, lambda v: v != 0)

    def mapping(table, skip=lambda cp: False):
        rows, pool = [], []
        for cp in range(MAX_CP):
            seq = table[cp]
            if seq is None or skip(cp):
                continue
            rows.append((cp, len(pool), len(seq)))
            pool.extend(seq)
        return rows, pool

    nfd_rows, nfd_pool = mapping(p.nfd, is_hangul_syllable)
    low_rows, low_pool = mapping(p.lower)
    assert len(nfd_pool) < 65536 and len(low_pool) < 65536

    L = []
    w = L.append
    w("/* GENERATED by tools/gen_unicode_tables.py -- do not edit. */")
    w("/*")
    w(" * Unicode data: Python %s unicodedata (Unicode %s)." % (meta["python"], meta["unicode"]))
    if meta["tokenizers"]:
        w(" * Hugging Face tokenizers %s overrides (code points where its behaviour" % meta["tokenizers"])
        w(" * differs from Unicode %s, taken from tokenizers per project policy):" % meta["unicode"])
        for name in ("drop", "space", "cjk", "punct", "mn", "nfd", "lower", "ccc"):
            cps = meta["overrides"].get(name, [])
            sample = " ".join("U+%04X" % cp for cp in cps[:6]) + (" ..." if len(cps) > 6 else "")
            w(" *   %-6s %5d%s" % (name, len(cps), ("  " + sample) if cps else ""))
        w(" * Verified: every code point, alone and between two letters, plus %d pairs" % (meta["pairs"]))
        w(" * of kept combining marks, gives the same words as tokenizers.")
    else:
        w(" * No tokenizers overrides (--unicode-only).")
    w(" */")
    w('#include "unicode_data.h"')
    w("")
    w('const char emb_unicode_version[] = "%s";' % meta["unicode"])
    w('const char emb_unicode_tokenizers_version[] = "%s";' % (meta["tokenizers"] or "none"))
    w("")
    w("const uint8_t emb_uc_stage1[%d] = {" % len(stage1))
    for i in range(0, len(stage1), 16):
        w("    " + ", ".join("%d" % v for v in stage1[i:i + 16]) + ",")
    w("};")
    w("")
    w("const uint8_t emb_uc_stage2[%d][256] = {" % len(blocks))
    for b in blocks:
        w("    {")
        for i in range(0, 256, 16):
            w("        " + ", ".join("0x%02x" % v for v in b[i:i + 16]) + ",")
        w("    },")
    w("};")
    w("")
    w("const emb_uc_ccc_range emb_uc_ccc_ranges[%d] = {" % len(ccc_ranges))
    for a, b, v in ccc_ranges:
        w("    {0x%05X, 0x%05X, %d}," % (a, b, v))
    w("};")
    w("const size_t emb_uc_ccc_ranges_n = %d;" % len(ccc_ranges))
    w("")
    for name, rows, pool in (("nfd", nfd_rows, nfd_pool), ("lower", low_rows, low_pool)):
        w("const emb_uc_map emb_uc_%s_map[%d] = {" % (name, len(rows)))
        for cp, off, n in rows:
            w("    {0x%05X, %d, %d}," % (cp, off, n))
        w("};")
        w("const size_t emb_uc_%s_map_n = %d;" % (name, len(rows)))
        w("const uint32_t emb_uc_%s_pool[%d] = {" % (name, len(pool)))
        for i in range(0, len(pool), 10):
            w("    " + ", ".join("0x%05X" % v for v in pool[i:i + 10]) + ",")
        w("};")
        w("")
    w("/* longest decomposition: %d; longest lowercase: %d code points */"
      % (meta["max_nfd"], meta["max_lower"]))
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", default="src/unicode_data.c")
    ap.add_argument("--unicode-only", action="store_true", help="skip the tokenizers overrides")
    ap.add_argument("--allow-version-mismatch", action="store_true")
    ap.add_argument("--check", action="store_true", help="compare with the existing output file")
    args = ap.parse_args()

    if ud.unidata_version != PINNED_UNICODE and not args.allow_version_mismatch:
        raise SystemExit("this Python has Unicode %s, the tables are pinned to %s "
                         "(use --allow-version-mismatch to regenerate anyway, and update PINNED_UNICODE)"
                         % (ud.unidata_version, PINNED_UNICODE))
    meta = {"unicode": ud.unidata_version, "python": sys.version.split()[0], "tokenizers": None,
            "overrides": {}, "pairs": 0}
    p = unicode_props()
    hf = None
    if not args.unicode_only:
        import tokenizers
        if tokenizers.__version__ != PINNED_TOKENIZERS and not args.allow_version_mismatch:
            raise SystemExit("tokenizers %s installed, the tables are pinned to %s "
                             "(use --allow-version-mismatch, and update PINNED_TOKENIZERS)"
                             % (tokenizers.__version__, PINNED_TOKENIZERS))
        hf = HF()
        log = {}
        p = hf_props(p, hf, log)
        meta["tokenizers"] = tokenizers.__version__
        meta["overrides"] = log["overrides"]
    flags = final_flags(p)
    meta["max_nfd"], meta["max_lower"] = check_invariants(p, flags)
    # Must fit EMB_UC_MAX_NFD / EMB_UC_MAX_LOWER in src/unicode.h.
    if meta["max_nfd"] > 4 or meta["max_lower"] > 3:
        raise SystemExit("a mapping is longer than src/unicode.h allows: nfd %d, lower %d"
                         % (meta["max_nfd"], meta["max_lower"]))
    if hf is not None:
        meta["pairs"] = verify_against_hf(p, flags, hf) ** 2
    text = emit_c(p, flags, meta)
    if args.check:
        try:
            old = open(args.output, encoding="utf-8").read()
        except OSError as e:
            raise SystemExit("cannot read %s: %s" % (args.output, e))
        # The Python patch version may differ; compare the data only.
        strip = lambda s: "\n".join(l for l in s.splitlines() if "Python" not in l)
        if strip(old) != strip(text):
            raise SystemExit("%s is out of date: regenerate with tools/gen_unicode_tables.py" % args.output)
        print("%s is up to date" % args.output)
        return
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    for name, cps in sorted(meta["overrides"].items()):
        print("override %-6s %d" % (name, len(cps)))
    print("wrote %s" % args.output)


if __name__ == "__main__":
    main()
