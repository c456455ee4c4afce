"""The inputs of bench/run.sh, identical for every engine (standard library
only: imported by the orchestrator and by bench/sql_driver.py, which runs
under Debian's /usr/bin/python3).

All texts are built from common lower-case English words that the BERT
vocabulary of the nomic fixtures holds as single tokens, so that a text of
n words is n + 2 tokens with [CLS]/[SEP] (checked by the orchestrator against
embed_token_count() and against llama.cpp's own tokenizer).
"""
import random

WORDS = (
    "the model turns text into vectors inside sql and search finds similar documents "
    "quickly with distance over of many different sentences written in plain "
    "english a small city near the river had old houses new roads and one long bridge people "
    "walked to work every morning while children played in green parks under tall trees some "
    "days were cold others warm but the market stayed open from early light until late night "
    "where farmers sold fresh bread fruit milk eggs fish meat cheese and flowers to friendly "
    "visitors who came from far away places by train car bus or boat"
).split()

# the 14-token query (11 words; "queries" is two word pieces): bench/bench_embed.c's first text
QUERY = "the model turns text into vectors inside sql queries and search"


def sentence(rng, n_words):
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def short_sentences(n=256, seed=8):
    """n sentences of 12..48 words (14..50 tokens, about 32 on average)."""
    rng = random.Random(seed)
    return [sentence(rng, rng.randint(12, 48)) for _ in range(n)]


def text_of_tokens(n_tokens, seed=2048):
    """One text of exactly n_tokens tokens with [CLS]/[SEP] (n_tokens >= 3)."""
    return sentence(random.Random(seed * 100003 + n_tokens), n_tokens - 2)


# input lengths (tokens with [CLS]/[SEP]) of the latency-vs-length curve
LENGTHS = (8, 14, 32, 64, 128, 256, 512, 1024, 2048)
