"""python/sqlite_embed's loader under the interpreter that runs this suite
(here pyenv's python3, whose sqlite3 cannot load extensions): load() on a
sqlite3 connection either works (a capable Python) or raises
LoadExtensionUnsupported with what to do; apsw loads it either way. The
package is assembled in a scratch directory from python/sqlite_embed and the
built extension (the wheel itself is tested by tests/python_pkg). Each case
runs in a process of its own: one process must not load the extension into
two SQLite libraries (sqlite3's and apsw's)."""
import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory, extension_path):
    root = tmp_path_factory.mktemp("pkg")
    shutil.copytree(REPO / "python" / "sqlite_embed", root / "sqlite_embed")
    shutil.copy(extension_path, root / "sqlite_embed" / "embed.so")
    return root


def run(package_dir, program):
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          env={"PYTHONPATH": str(package_dir), "PATH": "/usr/bin:/bin"})


def test_sqlite3_loads_or_says_what_to_do(package_dir):
    p = run(package_dir, "import sqlite3, sqlite_embed\n"
                         "db = sqlite3.connect(':memory:')\n"
                         "try:\n"
                         "    sqlite_embed.load(db)\n"
                         "except sqlite_embed.LoadExtensionUnsupported as e:\n"
                         "    print('UNSUPPORTED', e)\n"
                         "else:\n"
                         "    print('LOADED', db.execute('SELECT embed_version()').fetchone()[0])\n")
    assert p.returncode == 0, p.stderr
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        assert p.stdout.startswith("LOADED v"), p.stdout
    else:
        assert p.stdout.startswith("UNSUPPORTED sqlite_embed: cannot load the extension: this Python's "
                                   "sqlite3 module was built without extension loading"), p.stdout
        for advice in ("pip install apsw", "sqlite_embed.load(conn)", "/usr/bin/python3",
                       "PYTHON_CONFIGURE_OPTS=--enable-loadable-sqlite-extensions"):
            assert advice in p.stdout


def test_apsw_always_loads(package_dir):
    pytest.importorskip("apsw")
    p = run(package_dir, "import apsw, sqlite_embed\n"
                         "db = apsw.Connection(':memory:')\n"
                         "sqlite_embed.load(db)\n"
                         "print(db.execute('SELECT embed_version()').fetchone()[0])\n"
                         "try:\n"
                         "    db.execute(\"SELECT embed('nope', 'x')\").fetchall()\n"
                         "except apsw.SQLError as e:\n"
                         "    print('ERR', e)\n"
                         "print(db.execute('SELECT 1 + 1').fetchone()[0])\n")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("v") and "no model named 'nope'" in lines[1] and lines[2] == "2", p.stdout


def test_loadable_path_says_how_to_build(tmp_path):
    shutil.copytree(REPO / "python" / "sqlite_embed", tmp_path / "sqlite_embed")
    p = run(tmp_path, "import sqlite_embed; sqlite_embed.loadable_path()")
    assert p.returncode != 0 and "FileNotFoundError" in p.stderr and "pip install ." in p.stderr
