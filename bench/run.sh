#!/usr/bin/env bash
# The side-by-side benchmark of sqlite-embed and llama.cpp (issue 8, item 5):
# builds what it needs, generates the full-size nomic-geometry models and
# measures both engines in ONE run, interleaved, on the same files and texts.
# Run by hand, never in CI (≈ 30 min of llama.cpp compiling on 2 cores the first
# time, then ≈ 30-60 min of measuring; QUICK=1: a few minutes).
#
#   bash bench/run.sh [WORKDIR]               (default /tmp/sqlite-embed-bench)
#
# Environment:
#   QUICK=1        iteration mode: 1 repetition, 64 texts, short sweeps; the report
#                  goes to WORKDIR only (docs/ untouched)
#   REPS           interleaved repetitions per measurement (3)
#   THREADS        thread counts (1,2)
#   MODELS         which files (F16,Q8_0,Q4_K_M)
#   ONLY           subset of bulk,sweep,query,length,first,memory (all)
#   UBATCH_SWEEP   llama.cpp n_ubatch values of the sweep (0,256,512,2048; 0 = one text per batch; 128 trips a GGML_ASSERT in llama.cpp 0c1e570, see docs/benchmarks.md §9)
#   TEXTS_SWEEP    texts per embed_batch statement in the sweep (1,16,0; 0 = all)
#   LENGTH_MODELS  models with the latency-vs-length curve (all; e.g. F16)
#   SWEEP_MODELS   models with the batch-size sweep (all; the others use the first one's best n_ubatch)
#   REPS_MORE_THREADS  repetitions at the thread counts after the first (REPS)
#   MEMORY_THREADS thread counts of the memory runs (all)
#   LCPP_VERSION   llama-cpp-python version whose sdist vendors llama.cpp (0.3.36)
#   JOBS           build parallelism (2)
#
# Outputs (full mode): docs/bench/results.json, the tables between the markers
# in docs/benchmarks.md §9, docs/bench/throughput_vs_batch.png and
# docs/bench/latency_vs_length.png. Everything else (the sdist, the llama.cpp
# build, our build, the models, a venv with matplotlib) stays in WORKDIR;
# nothing of llama.cpp enters the repository.
#
# Needs: cmake, gcc/g++, pip (PyPI), python3 with numpy + gguf
# (tests/python/requirements.txt), Debian's /usr/bin/python3 (its sqlite3
# module loads extensions), the sqlite3 shell, libopenblas.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/sqlite-embed-bench}
LCPP_VERSION=${LCPP_VERSION:-0.3.36}
JOBS=${JOBS:-2}
REPS=${REPS:-3}
THREADS=${THREADS:-1,2}
MODELS=${MODELS:-F16,Q8_0,Q4_K_M}
ONLY=${ONLY:-bulk,sweep,query,length,first,memory}
UBATCH_SWEEP=${UBATCH_SWEEP:-0,256,512,2048}
TEXTS_SWEEP=${TEXTS_SWEEP:-1,16,0}
LENGTH_MODELS=${LENGTH_MODELS:-all}
SWEEP_MODELS=${SWEEP_MODELS:-all}
REPS_MORE_THREADS=${REPS_MORE_THREADS:-$REPS}
MEMORY_THREADS=${MEMORY_THREADS:-all}
QUICK=${QUICK:-0}
mkdir -p "$W"
W=$(cd "$W" && pwd)
say() { printf '\n### %s\n' "$*" >&2; }
fail() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }
trap 'fail "stopped at line $LINENO (exit status $?); logs in $W"' ERR

for tool in cmake gcc g++ pip sqlite3 /usr/bin/python3 python3; do
    command -v "$tool" >/dev/null || fail "$tool not found"
done
python3 -c 'import numpy, gguf' 2>/dev/null ||
    fail "python3 needs numpy and gguf (pip install -r tests/python/requirements.txt)"

say "environment"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>} in this shell;" \
    "every measured process runs without both (env -u): the extension's CPUID choice applies" >&2
grep -m1 'model name' /proc/cpuinfo >&2 || true
echo "cpus: $(nproc); load: $(cat /proc/loadavg)" >&2

say "llama.cpp from the PyPI sdist llama-cpp-python==$LCPP_VERSION"
SDIST="$W/llama_cpp_python-$LCPP_VERSION"
SRC="$SDIST/vendor/llama.cpp"
if [ ! -d "$SRC" ]; then
    pip download --no-deps --no-binary :all: "llama-cpp-python==$LCPP_VERSION" -d "$W" >&2 ||
        fail "pip download of llama-cpp-python==$LCPP_VERSION failed"
    tar -xzf "$W/llama_cpp_python-$LCPP_VERSION.tar.gz" -C "$W"
fi
# the sdist has no .git: its CHANGELOG names the llama.cpp commit it vendors
LCPP_COMMIT=$(grep -m1 -o 'llama.cpp@[0-9a-f]*' "$SDIST/CHANGELOG.md" || echo "llama.cpp@?")
echo "$LCPP_COMMIT" >&2
LB="$W/llama-build"
# Every SIMD extension of this CPU (what GGML_NATIVE=ON would pick) except AMX:
# llama.cpp's AMX path (ggml_backend_amx_mul_mat, chosen for Q8_0/Q4_K weights on
# AMX-capable Xeons) crashes with SIGSEGV on this machine kind.
FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
ISA=(-DGGML_NATIVE=OFF)
for pair in sse4_2:SSE42 avx:AVX avx2:AVX2 bmi2:BMI2 fma:FMA f16c:F16C avx_vnni:AVX_VNNI \
    avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
    case "$FLAGS" in
        *" ${pair%%:*} "*) ISA+=("-DGGML_${pair#*:}=ON") ;;
        *) ISA+=("-DGGML_${pair#*:}=OFF") ;;
    esac
done
ISA+=(-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
LCPP_CONFIG="Release ${ISA[*]} -DGGML_BLAS=OFF static"
if [ ! -f "$LB/src/libllama.a" ] || [ ! -x "$LB/bin/llama-quantize" ] ||
    [ "$(cat "$LB/bench-config.txt" 2>/dev/null)" != "$LCPP_CONFIG" ]; then
    echo "building llama.cpp ($LCPP_CONFIG; log: $W/llama-build.log)" >&2
    cmake -S "$SRC" -B "$LB" -DCMAKE_BUILD_TYPE=Release "${ISA[@]}" -DGGML_BLAS=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DBUILD_SHARED_LIBS=OFF >"$W/llama-configure.log" 2>&1 || fail "llama.cpp configure failed: $W/llama-configure.log"
    cmake --build "$LB" -j"$JOBS" --target llama llama-quantize >"$W/llama-build.log" 2>&1 ||
        fail "llama.cpp build failed: $W/llama-build.log"
    echo "$LCPP_CONFIG" >"$LB/bench-config.txt"
    rm -f "$W/bin/llama_driver"
fi
mkdir -p "$W/bin"
# the driver links the static libraries; ggml-cpu needs OpenMP when llama.cpp found it
LIBS="$LB/src/libllama.a $LB/ggml/src/libggml.a $LB/ggml/src/libggml-cpu.a $LB/ggml/src/libggml-base.a"
OMP=""
grep -q 'GGML_USE_OPENMP' "$LB/ggml/src/CMakeFiles/ggml-cpu.dir/flags.make" 2>/dev/null && OMP=-fopenmp
if [ ! -x "$W/bin/llama_driver" ] || [ "$REPO/bench/llama_driver.c" -nt "$W/bin/llama_driver" ]; then
    gcc -O2 -std=c11 -Wall -Wextra -Werror -I"$SRC/include" -I"$SRC/ggml/include" \
        -c "$REPO/bench/llama_driver.c" -o "$W/bin/llama_driver.o" || fail "cannot compile bench/llama_driver.c"
    # shellcheck disable=SC2086
    g++ "$W/bin/llama_driver.o" $LIBS $OMP -lm -lpthread -o "$W/bin/llama_driver" ||
        fail "cannot link bench/llama_driver.c against $LB"
fi

say "sqlite-embed (default build type: what users build)"
# a build directory configured for another checkout cannot be reused
if [ -f "$W/embed-build/CMakeCache.txt" ] &&
    ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$REPO" "$W/embed-build/CMakeCache.txt"; then
    rm -rf "$W/embed-build"
fi
cmake -S "$REPO" -B "$W/embed-build" -DEMBED_TESTS=OFF >"$W/embed-configure.log" 2>&1 ||
    fail "configure failed: $W/embed-configure.log"
cmake --build "$W/embed-build" -j"$JOBS" --target embed >"$W/embed-build.log" 2>&1 ||
    fail "build failed: $W/embed-build.log"
EXT="$W/embed-build/embed"
EMBED_REV=$(cd "$REPO" && git log -1 --format='%h %cd' --date=format:'%Y-%m-%d %H:%M' 2>/dev/null || echo '?')
[ -n "$(cd "$REPO" && git status --porcelain --untracked-files=no 2>/dev/null)" ] && EMBED_REV="$EMBED_REV (+ local changes)"
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$W/embed-build/CMakeCache.txt")

say "models (nomic-bert geometry, 768 x 12 layers, random weights; the same files for both engines)"
M="$W/models"
mkdir -p "$M"
[ -f "$M/nomic-full-F16.gguf" ] ||
    python3 "$REPO/tests/python/gen_models.py" --out "$M" --full-nomic --only nomic-full-F16 -q
# llama.cpp aborts on non-F32 1-D tensors / token_types: a copy with those in F32,
# every matrix unchanged (bench/compare_llamacpp.py llamafy)
[ -f "$M/nomic-full-F16.lc.gguf" ] ||
    python3 "$REPO/bench/compare_llamacpp.py" llamafy "$M/nomic-full-F16.gguf" "$M/nomic-full-F16.lc.gguf"
MODEL_ARGS=()
for q in ${MODELS//,/ }; do
    f="$M/nomic-full-$q.lc.gguf"
    if [ ! -f "$f" ]; then
        "$LB/bin/llama-quantize" "$M/nomic-full-F16.lc.gguf" "$f" "$q" >"$M/quantize-$q.log" 2>&1 ||
            fail "llama-quantize $q failed: $M/quantize-$q.log"
    fi
    MODEL_ARGS+=(--model "$f")
done

say "plotting library (matplotlib from PyPI, in $W/venv)"
VPY="$W/venv/bin/python3"
if ! "$VPY" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv --system-site-packages "$W/venv"
    "$VPY" -m pip install -q matplotlib >&2 || fail "pip install matplotlib failed"
fi

say "measuring (load before: $(cat /proc/loadavg))"
OUT="$W/results.json"
EXTRA=()
[ "$QUICK" = 1 ] && EXTRA+=(--quick)
# bench_run.py removes OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from every measured
# process (and records the values this shell had)
python3 "$REPO/bench/bench_run.py" --ext "$EXT" --llama-driver "$W/bin/llama_driver" "${MODEL_ARGS[@]}" \
    --out "$OUT" --threads "$THREADS" --reps "$REPS" --only "$ONLY" "${EXTRA[@]}" \
    --ubatch-sweep "$UBATCH_SWEEP" --texts-sweep "$TEXTS_SWEEP" --length-models "$LENGTH_MODELS" \
    --sweep-models "$SWEEP_MODELS" --reps-more-threads "$REPS_MORE_THREADS" --memory-threads "$MEMORY_THREADS" \
    --meta "sqlite_embed=$EMBED_REV" --meta "sqlite_embed_build=$BUILD_TYPE, gcc, $(basename "$EXT").so" \
    --meta "llama_cpp=$LCPP_COMMIT (llama-cpp-python $LCPP_VERSION sdist), driver bench/llama_driver.c" \
    --meta "llama_cpp_build=$LCPP_CONFIG (every SIMD extension of this CPU except AMX, whose path crashes here)"

say "report"
if [ "$QUICK" = 1 ]; then
    "$VPY" "$REPO/bench/bench_report.py" "$OUT" --md "$W/report.md" --plots "$W/plots"
    echo "quick mode: $W/report.md, $W/plots/*.png (docs/ untouched)" >&2
else
    mkdir -p "$REPO/docs/bench"
    cp "$OUT" "$REPO/docs/bench/results.json"
    "$VPY" "$REPO/bench/bench_report.py" "$OUT" --docs "$REPO/docs/benchmarks.md" --plots "$REPO/docs/bench"
    echo "wrote docs/bench/results.json, docs/benchmarks.md §9, docs/bench/*.png" >&2
fi
say "done (load after: $(cat /proc/loadavg))"
