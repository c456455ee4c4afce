"""sqlite-embed for Python: where the loadable SQLite extension is, and a
loader for the standard library's sqlite3 and for apsw.

    import sqlite3, sqlite_embed
    db = sqlite3.connect("app.db")
    sqlite_embed.load(db)
    db.execute("INSERT INTO embed_models(name, path) VALUES ('minilm', ?)", ("model.gguf",))
    blob = db.execute("SELECT embed('minilm', 'hello')").fetchone()[0]  # float32 LE

The extension (embed.so) was built from source by `pip install .` and sits
in this package's directory. Many Pythons cannot load SQLite extensions at
all (pyenv's default builds, macOS's system Python): load() then raises
LoadExtensionUnsupported saying what to do; apsw always can.
"""

import os
import sys

__all__ = ["loadable_path", "load", "entrypoint", "LoadExtensionUnsupported"]

#: The extension's entry point (SQLite derives the same from the file name).
entrypoint = "sqlite3_embed_init"

# CMake names a MODULE library embed.so on Linux and macOS, embed.dll on Windows.
_FILE_NAME = "embed.dll" if sys.platform == "win32" else "embed.so"

_HOW_TO = (
    "Either use apsw, which can always load extensions: `pip install apsw`, then "
    "`conn = apsw.Connection('app.db'); sqlite_embed.load(conn)`; "
    "or use a Python whose sqlite3 module was built with --enable-loadable-sqlite-extensions: "
    "Debian/Ubuntu's /usr/bin/python3, the python.org installers, Homebrew's or conda's python, "
    "or with pyenv: `PYTHON_CONFIGURE_OPTS=--enable-loadable-sqlite-extensions pyenv install 3.12`."
)


class LoadExtensionUnsupported(RuntimeError):
    """The connection's SQLite binding cannot load extensions."""


def loadable_path() -> str:
    """Absolute path of the extension file installed with this package
    (with its suffix, so that it works whatever suffix SQLite would guess)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _FILE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"sqlite_embed: the extension {path} is not there: this copy of the package was not "
            "installed by `pip install .` (which builds it with CMake; it needs cmake, a C compiler, "
            "libsqlite3-dev and libopenblas-dev)")
    return path


def load(conn) -> None:
    """Load sqlite-embed into `conn`: a sqlite3.Connection, an apsw.Connection,
    or any object with enable_load_extension(bool) and load_extension(path).

    Extension loading is switched on for the call and off again afterwards
    (SQL can then not load other libraries). Raises LoadExtensionUnsupported
    if the binding cannot load extensions, and the binding's own error
    (sqlite3.OperationalError, apsw.ExtensionLoadingError) if loading fails.
    """
    enable = getattr(conn, "enable_load_extension", None)
    if enable is None or not callable(getattr(conn, "load_extension", None)):
        kind = type(conn).__module__ + "." + type(conn).__qualname__
        if type(conn).__module__ == "sqlite3":
            why = ("this Python's sqlite3 module was built without extension loading "
                   f"({sys.executable}, Python {sys.version.split()[0]}: "
                   "sqlite3.Connection has no enable_load_extension)")
        else:
            why = f"{kind} has no enable_load_extension/load_extension"
        raise LoadExtensionUnsupported(f"sqlite_embed: cannot load the extension: {why}. {_HOW_TO}")
    path = loadable_path()
    enable(True)
    try:
        conn.load_extension(path)
    finally:
        enable(False)
