"""Texts embedded into every .ref.bin golden file.

Varied on purpose: plain English, accents (precomposed and decomposed),
CJK, Hangul, emoji, punctuation and ASCII symbols, whitespace runs, control
and format characters, literal special-token text (plain text by project
policy), a word over 100 characters (one [UNK]), numbers, other scripts, the
nomic task prefixes, the empty string, and one long text of more than 62 but
fewer than 254 word pieces: the tiny bert fixtures (context 64) truncate it
to [CLS] + 62 pieces + [SEP], while all-MiniLM-L6-v2 (context 512,
sentence-transformers max_seq_length 256) sees all of it, so the MiniLM
goldens agree with both truncation limits.
"""

LONG_TEXT = (
    "SQLite is a C-language library that implements a small, fast, self-contained, "
    "high-reliability, full-featured SQL database engine. It is the most used database "
    "engine in the world: it is built into all mobile phones and most computers and comes "
    "bundled inside countless other applications that people use every day. The file "
    "format is stable, cross-platform and backwards compatible, and the developers pledge "
    "to keep it that way through the year 2050. Text embeddings turn sentences into "
    "vectors so that similar meanings end up close together; computing them inside the "
    "database lets a query rank documents by semantic similarity without any external "
    "service, network round trip or Python runtime."
)

TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "Someone is strumming a guitar outdoors.",
    "The stock market fell sharply after the announcement.",
    "Naïve café, TOKYO東京!",
    "Crème brûlée and jalapeño piñata \u2014 déjà vu?",
    "cafe\u0301 re\u0301sume\u0301 (decomposed accents)",
    "Ångström, Øresund, Straße, ÆSIR",
    "日本語のテキストと中文文本。",
    "한국어 문장입니다",
    "Emoji test 😀🎉 with thumbs 👍🏽 up",
    "Punctuation!!! (parentheses), [brackets], {braces}; \"quotes\" 'single' -- dashes... ?!",
    "$100 + 50% = <html> ^caret^ `tick` |pipe| ~tilde~ #hash @at &amp;",
    "search_query: What is TSNE?",
    "search_document: t-SNE is a statistical method for visualizing high-dimensional data.",
    "Tabs\tand\nnewlines\r\nand   multiple    spaces",
    "zero\u200bwidth, soft\u00adhyphen and a bell\u0007 character",
    "literal [SEP] and [CLS] and [MASK] markers stay plain text",
    "unaffable",
    "pneumonoultramicroscopicsilicovolcanoconiosis " + "x" * 101 + " end",
    "3.14159 2,718 1e-12 0x1F 42nd 1,000,000",
    "Ελληνικά ΣΊΣΥΦΟΣ and русский текст",
    "مرحبا بالعالم",
    LONG_TEXT,
    "",
    "   \t  ",
]
