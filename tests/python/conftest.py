"""Shared pytest fixtures: where the build, the generated fixtures and the
read-only ../shared data are."""
import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("EMBED_SHARED_DIR", REPO.parent / "shared"))
BUILD = pathlib.Path(os.environ.get("EMBED_BUILD_DIR", REPO / "build"))


@pytest.fixture(scope="session")
def extension_path():
    so = BUILD / "embed.so"
    if not so.exists():
        pytest.fail(f"{so} not built: run cmake --build build first")
    return so


def run_sql(extension, sql, *, json_mode=True, cwd=None, env=None):
    """Run SQL in a fresh sqlite3 shell with the extension loaded.
    Returns (returncode, stdout, stderr)."""
    shell = shutil.which("sqlite3")
    assert shell, "the sqlite3 shell is required"
    args = [shell, "-batch", "-bail", "-init", "/dev/null"]
    if json_mode:
        args.append("-json")
    args += [":memory:", f".load {extension}", sql]
    p = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env)
    return p.returncode, p.stdout, p.stderr
