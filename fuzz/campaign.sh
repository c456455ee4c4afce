#!/usr/bin/env bash
# The long fuzzing campaign of docs/fuzzing.md: the four libFuzzer targets,
# each for SECONDS (default 1800) of wall time, two at a time (2 vCPUs shared
# with other work: nice 19), CPU time recorded by /usr/bin/time -v.
#
#   bash fuzz/campaign.sh [SECONDS]
#
# Expects the fuzz build and its seeds as docs/fuzzing.md describes them
# (build-fuzz/ with fuzz_gguf, fuzz_tokenizer, fuzz_options, fuzz_model and
# embed.so; gguf_samples/gguf, tok_seeds, opt_seeds, model_seeds inside it;
# the release build's fixtures in build/fixtures, or EMBED_FUZZ_MODEL). Corpora grow in corpus/,
# tok_corpus/, opt_corpus/, model_corpus/ (kept between runs); logs, times and
# any crash-*/leak-*/timeout-* artifacts go to build-fuzz/campaign/.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
secs=${1:-1800}
cd build-fuzz
mkdir -p campaign corpus tok_corpus opt_corpus model_corpus

run() { # run NAME ARGS...
    local name=$1
    shift
    echo "$name start $(date -u +%FT%TZ)" >>campaign/times
    local rc=0
    OPENBLAS_NUM_THREADS=1 EMBED_SOURCE_DIR=$src nice -n 19 /usr/bin/time -v -o "campaign/$name.timev" \
        "./$name" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="campaign/$name-" "$@" \
        >"campaign/$name.log" 2>&1 || rc=$?
    echo "$name end $(date -u +%FT%TZ) rc $rc" >>campaign/times
}

(
    run fuzz_gguf -dict="$src/fuzz/gguf.dict" -max_len=8192 corpus gguf_samples/gguf
    run fuzz_model -max_len=4000000 -rss_limit_mb=4096 -malloc_limit_mb=4096 model_corpus model_seeds
) &
lane_a=$!
(
    run fuzz_tokenizer -max_len=8192 tok_corpus tok_seeds
    EMBED_FUZZ_EXT=$PWD/embed.so EMBED_FUZZ_MODEL=${EMBED_FUZZ_MODEL:-$src/build/fixtures/models/tiny-bert-F16.gguf} \
        run fuzz_options -max_len=256 opt_corpus opt_seeds
) &
lane_b=$!
wait "$lane_a" "$lane_b"
cat campaign/times
grep -H -E "^Done|stat::number_of_executed_units|^#[0-9]+.*DONE" campaign/*.log || true
grep -H -E "User time|System time|Elapsed" campaign/*.timev || true
ls campaign | grep -E '^fuzz_.*-(crash|leak|timeout|oom)-' && exit 1
echo "no findings"
