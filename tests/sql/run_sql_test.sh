#!/usr/bin/env bash
# Run one SQL test script through the sqlite3 shell and compare its output
# (stdout and stderr interleaved, line-buffered) with the .expected file.
#
#   run_sql_test.sh <build_dir> <source_dir> <test.sql>
#
# The script runs in a scratch directory that holds:
#   embed.so  -> the built extension   (scripts say `.load ./embed`)
#   data/     -> tests/data of the repo (committed fixtures)
#   models/   -> $EMBED_FIXTURES_DIR/models (generated test models)
#   samples/  -> <build_dir>/gguf_samples
# so that expected output never contains machine-specific paths.
# Set SQL_TEST_UPDATE=1 to rewrite the .expected file (review the diff!).
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
sql=$3
name=$(basename "$sql" .sql)
expected="${sql%.sql}.expected"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$build/embed.so" "$work/embed.so"
ln -s "$src/tests/data" "$work/data"
ln -s "${EMBED_FIXTURES_DIR:-$build/fixtures}/models" "$work/models"
ln -s "$build/gguf_samples" "$work/samples"
cp "$sql" "$work/test.sql"
(cd "$work" && stdbuf -oL -eL sqlite3 -batch -init /dev/null :memory: < test.sql > out.txt 2>&1) || true
if [ "${SQL_TEST_UPDATE:-}" = 1 ]; then
  cp "$work/out.txt" "$expected"
  echo "updated $expected"
  exit 0
fi
if ! diff -u "$expected" "$work/out.txt"; then
  echo "FAIL: $name: output differs from $expected (diff above: - expected, + actual)"
  exit 1
fi
echo "ok: $name"
