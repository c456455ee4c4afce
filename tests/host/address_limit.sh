#!/usr/bin/env bash
# An address-space limit (ulimit -v) never hangs or kills the host: the
# sqlite3 shell embeds under limits from too small to load anything up to
# comfortable, and every run ends within the timeout with either the vector
# or a clear error. (OpenBLAS retries a failed buffer allocation forever;
# src/blas.h emb_blas_reserve turns that into an error first.) Not run under
# ASan/TSan, whose shadow memory needs far more address space than any limit.
# Usage: address_limit.sh EXTENSION MODEL
set -u
ext=$1 model=$2
long=$(printf 'word %.0s' $(seq 1 300))
fail=0 ok=0 refused=0
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
done
echo "address limits: $ok embedded, $refused refused with a message"
[ $ok -gt 0 ] || { echo "no limit was large enough to embed: the sweep tests nothing"; fail=1; }
[ $refused -gt 0 ] || { echo "no limit was small enough to refuse: the sweep tests nothing"; fail=1; }
exit $fail
