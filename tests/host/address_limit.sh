#!/usr/bin/env bash
# An address-space limit (ulimit -v) never hangs or kills the host: the
# sqlite3 shell embeds under limits from too small to load anything up to
# comfortable, and every run ends within the timeout with either the vector
# or a clear error. (OpenBLAS retries a failed buffer allocation forever;
# src/blas.h emb_blas_reserve turns that into an error first.) Not run under
# ASan/TSan, whose shadow memory needs far more address space than any limit.
# At every limit an embed_batch of 120 texts (5 forward calls) at 2 threads
# runs too, in its own process: its calls run side by side, one whole pass
# per thread (two OpenBLAS callers at once, two workspaces); it embeds, or
# fails with a clear message -- the blas one (ulimit -v) when the limit
# leaves no room for the second thread's OpenBLAS buffer.
# And at every limit a process that first embeds at 1 thread (OpenBLAS then
# has one buffer) and then embeds a 300-word text at 2 threads: the check for
# the second buffer once let it through at 324-404 MB, and OpenBLAS spun
# forever (emb_blas_reserve now probes for all the callers' buffers).
# Usage: address_limit.sh EXTENSION MODEL
set -u
ext=$1 model=$2
long=$(printf 'word %.0s' $(seq 1 300))
texts="(WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 119) SELECT json_group_array('text ' || i || ' of the batch, ' || substr('the cat sat on the mat and looked at the rain for a long while', 1, 20 + i % 40)) FROM c)"
fail=0 ok=0 refused=0 batch_ok=0 batch_blas=0 batch_refused=0
for kib in $(seq 100000 16000 500000); do
  out=$( (ulimit -v "$kib"; exec timeout ${LIMIT_TIMEOUT:-60} sqlite3 -batch :memory: ".load $ext" \
          "INSERT INTO embed_models(name, path) VALUES ('m', '$model');" \
          "SELECT embed_threads(2);" \
          "SELECT length(embed('m', 'a short query about cats'));" \
          "SELECT length(embed('m', '$long'));") 2>&1 )
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -gt 128 ]; then
    echo "ulimit -v $kib: the host hung or died (exit $rc): $out"; fail=1
  elif [ $rc -eq 0 ]; then
    ok=$((ok + 1))
  elif printf '%s' "$out" | grep -Eq 'cannot|ulimit -v|out of memory'; then
    refused=$((refused + 1))
  else
    echo "ulimit -v $kib: failed without a clear message (exit $rc): $out"; fail=1
  fi
  out=$( (ulimit -v "$kib"; exec timeout ${LIMIT_TIMEOUT:-60} sqlite3 -batch :memory: ".load $ext" \
          "INSERT INTO embed_models(name, path) VALUES ('m', '$model');" \
          "SELECT embed_threads(1);" \
          "SELECT length(embed('m', 'a short query about cats'));" \
          "SELECT embed_threads(2);" \
          "SELECT length(embed('m', '$long'));") 2>&1 )
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -gt 128 ]; then
    echo "ulimit -v $kib: 1 thread then 2: the host hung or died (exit $rc): $out"; fail=1
  elif [ $rc -ne 0 ] && ! printf '%s' "$out" | grep -Eq 'cannot|ulimit -v|out of memory'; then
    echo "ulimit -v $kib: 1 thread then 2: failed without a clear message (exit $rc): $out"; fail=1
  fi
  out=$( (ulimit -v "$kib"; exec timeout ${LIMIT_TIMEOUT:-60} sqlite3 -batch :memory: ".load $ext" \
          "INSERT INTO embed_models(name, path) VALUES ('m', '$model');" \
          "SELECT embed_threads(2);" \
          "SELECT count(*) FROM embed_batch('m', $texts);") 2>&1 )
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -gt 128 ]; then
    echo "ulimit -v $kib: embed_batch: the host hung or died (exit $rc): $out"; fail=1
  elif [ $rc -eq 0 ]; then
    if [ "$(printf '%s' "$out" | tail -n 1)" = 120 ]; then batch_ok=$((batch_ok + 1))
    else echo "ulimit -v $kib: embed_batch: not 120 rows: $out"; fail=1; fi
  elif printf '%s' "$out" | grep -q 'ulimit -v'; then
    batch_blas=$((batch_blas + 1))
  elif printf '%s' "$out" | grep -Eq 'cannot|out of memory'; then
    batch_refused=$((batch_refused + 1))
  else
    echo "ulimit -v $kib: embed_batch failed without a clear message (exit $rc): $out"; fail=1
  fi
done
echo "address limits: $ok embedded, $refused refused with a message"
echo "embed_batch at 2 threads: $batch_ok embedded, $batch_blas refused with the blas message, $batch_refused refused (load)"
[ $batch_ok -gt 0 ] || { echo "no limit was large enough for embed_batch: the sweep tests nothing"; fail=1; }
[ $ok -gt 0 ] || { echo "no limit was large enough to embed: the sweep tests nothing"; fail=1; }
[ $refused -gt 0 ] || { echo "no limit was small enough to refuse: the sweep tests nothing"; fail=1; }
exit $fail
