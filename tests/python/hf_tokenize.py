"""Token ids from Hugging Face `tokenizers` for a GGUF WordPiece vocabulary.

The GGUF vocabulary is turned back into an HF WordPiece vocabulary
('▁x' -> 'x', bare 'x' -> '##x', '[..]' unchanged) and run through the same
pipeline as BertTokenizerFast for an uncased model: BertNormalizer (clean
text, CJK spacing, lowercase, strip accents), BertPreTokenizer, WordPiece
(greedy longest match, 100-character word limit, [UNK]).

Project policy (src/tokenizer.h): literal "[SEP]", "[CLS]" ... in user text
are plain text. The special tokens are therefore NOT registered as added
tokens here, so "[SEP]" tokenizes as '[', 'sep', ']'. [CLS] and [SEP] are
added around the pieces by `encode` itself, after truncation.

CLI: python3 hf_tokenize.py VOCAB.gguf "text" ... prints the ids.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from gguf_vocab import GgufVocab, gguf_to_hf_token, load_gguf_vocab


class HfWordPiece:
    """Uncased BERT WordPiece over a GGUF vocabulary; immutable after creation."""

    def __init__(self, vocab: GgufVocab):
        hf_vocab: dict[str, int] = {}
        for i, t in enumerate(vocab.tokens):
            hf_vocab.setdefault(gguf_to_hf_token(t), i)
        unk = gguf_to_hf_token(vocab.tokens[vocab.unk_id])
        tok = Tokenizer(models.WordPiece(hf_vocab, unk_token=unk, max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self._tok = tok
        self.cls_id = vocab.cls_id
        self.sep_id = vocab.sep_id

    def pieces(self, text: str) -> list[int]:
        """Word-piece ids of text, without [CLS]/[SEP] and without truncation."""
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def piece_strings(self, text: str) -> list[str]:
        """HF's piece strings of text ('##' marks a word's continuation)."""
        return list(self._tok.encode(text, add_special_tokens=False).tokens)

    def encode(self, text: str, max_tokens: int) -> list[int]:
        """[CLS] + first (max_tokens - 2) pieces + [SEP] (HF truncation)."""
        if max_tokens < 2:
            raise ValueError("max_tokens must be >= 2")
        return [self.cls_id] + self.pieces(text)[: max_tokens - 2] + [self.sep_id]


def from_gguf(path: str | Path) -> HfWordPiece:
    return HfWordPiece(load_gguf_vocab(path))


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    tok = from_gguf(argv[1])
    for text in argv[2:]:
        print(tok.encode(text, 1 << 30))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
