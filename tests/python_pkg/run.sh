#!/usr/bin/env bash
# The Python package end to end (ctest python_package):
#   1. `pip wheel .` offline (--no-index, --no-build-isolation: the backend
#      scikit-build-core comes from the venv) builds the wheel with CMake;
#   2. the wheel holds sqlite_embed/embed.so; it is installed into the venv;
#   3. pytest tests/python_pkg runs outside the repository against the
#      installed package, with sqlite3, sqlite-vec and apsw.
# The venv (default <repo>/.venv, or $SQLITE_EMBED_VENV) is made by
# tools/install-deps.sh from Debian's /usr/bin/python3.
#   run.sh <source_dir> <build_dir>
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
venv=${SQLITE_EMBED_VENV:-$src/.venv}
py=$venv/bin/python
if [ ! -x "$py" ]; then
  echo "python_package: no venv at $venv: run tools/install-deps.sh" >&2
  exit 1
fi
wheels=$build/python-wheel
rm -rf "$wheels"
"$py" -m pip wheel -q --no-index --no-build-isolation --no-deps -w "$wheels" "$src"
whl=$(ls "$wheels"/sqlite_embed-*.whl)
# (not `zipfile -l | grep -q`: grep's early exit breaks the pipe under pipefail)
"$py" -c 'import sys, zipfile; sys.exit("sqlite_embed/embed.so" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$whl" \
  || { echo "python_package: $whl has no sqlite_embed/embed.so" >&2; exit 1; }
"$py" -m pip install -q --no-index --no-deps --force-reinstall "$whl"
cd "$wheels" # not the repository: the tests import the installed package
exec "$py" -m pytest -q -p no:cacheprovider "$src/tests/python_pkg"
