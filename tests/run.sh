#!/usr/bin/env bash
# The whole test suite (README's test command; CI runs exactly this):
#   1. release build (gcc) + every ctest test: cmocka unit tests, generated
#      fixtures checked against numpy / gguf / tokenizers references, SQL
#      scripts through the sqlite3 shell
#   2. ASan + UBSan build (clang, so clang warnings fail the build too) + the
#      same tests
#   3. ThreadSanitizer build (clang) of the extension + the host thread test
#      (8 threads embedding while others register, unload, delete)
#   4. the Node tests (Python tests run inside ctest in step 1)
# Dependencies: tools/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
start=$(date +%s)

echo "== release build (gcc) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DEMBED_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== ASan + UBSan build (clang) =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEMBED_SANITIZE=ON -DEMBED_TESTS=ON -DCMAKE_C_COMPILER=clang \
  -DEMBED_FIXTURES_DIR="$PWD/build/fixtures" >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== ThreadSanitizer build (clang): host thread test =="
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DEMBED_TSAN=ON -DEMBED_TESTS=ON -DCMAKE_C_COMPILER=clang \
  -DEMBED_FIXTURES_DIR="$PWD/build/fixtures" >/dev/null
cmake --build build-tsan -j"$jobs" --target embed test_host_threads
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 HOST_TEST_ROUNDS=3 \
  ctest --test-dir build-tsan -R 'gen_models|test_host_threads' --output-on-failure

if [ -f tests/node/package.json ]; then
  echo "== Node tests =="
  (cd tests/node && EMBED_BUILD_DIR="$PWD/../../build" npm test --silent)
fi
echo "all test stages passed in $(( $(date +%s) - start )) s"
