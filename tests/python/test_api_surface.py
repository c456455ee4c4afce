"""The extension's SQL surface equals README.md's "API surface" table.

What the extension registers is read from SQLite itself, not from our code:
pragma_function_list (name, argument count, flags) and pragma_module_list,
each compared between a shell without and with the extension loaded, so the
shell's own functions and modules drop out. For a table (module) the
"arguments" are its HIDDEN columns (pragma_table_xinfo: the table-valued
function's parameters), and DIRECTONLY is observed by using it from a view.

When this fails, the message lists the exact README rows to add or remove:
copy them into the table under "### API surface" in README.md (any order).
"""
import re
import shutil
import subprocess

from conftest import REPO, run_sql

README = REPO / "README.md"
SECTION = "### API surface"

# sqlite3.h values, as pragma_function_list reports them
FLAG_NAMES = [(0x000800, "DETERMINISTIC"), (0x080000, "DIRECTONLY"), (0x200000, "INNOCUOUS"),
              (0x100000, "SUBTYPE")]
KIND = {"s": "scalar", "a": "aggregate", "w": "window"}


def _rows(extension, sql, load):
    """The shell's output lines of sql, split at '|', with or without the extension."""
    rc, out, err = run_sql(extension, sql, json_mode=False) if load else _run_plain(sql)
    assert rc == 0, err
    return {tuple(line.split("|")) for line in out.splitlines() if line}


def _run_plain(sql):
    """The same shell without the extension."""
    p = subprocess.run([shutil.which("sqlite3"), "-batch", "-bail", "-init", "/dev/null", ":memory:", sql],
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def flags_text(flags: int) -> str:
    names = [n for bit, n in FLAG_NAMES if flags & bit]
    return ", ".join(names) if names else "—"


def extension_surface(extension) -> set[tuple[str, str, str, str]]:
    """{(name, kind, n_arg, flags)} for every function and table the extension adds."""
    fsql = "SELECT name, type, narg, flags FROM pragma_function_list WHERE builtin = 0;"
    funcs = _rows(extension, fsql, True) - _rows(extension, fsql, False)
    surface = {(f"`{n}`", KIND.get(t, t), a, flags_text(int(fl))) for n, t, a, fl in funcs}
    msql = "SELECT name FROM pragma_module_list;"
    for (name,) in _rows(extension, msql, True) - _rows(extension, msql, False):
        rc, out, err = run_sql(extension, f"SELECT count(*) FROM pragma_table_xinfo('{name}') WHERE hidden;",
                               json_mode=False)
        assert rc == 0, err
        n_hidden = out.strip()
        # DIRECTONLY tables cannot be used from a (non-TEMP) view even with a trusted schema
        rc, _, err = run_sql(extension, f"PRAGMA trusted_schema = ON; CREATE VIEW v AS SELECT * FROM {name}"
                                        f" LIMIT 0; SELECT * FROM v;", json_mode=False)
        direct = rc != 0 and "unsafe use of virtual table" in err
        assert rc == 0 or direct, err
        surface.add((f"`{name}`", "table", n_hidden, "DIRECTONLY" if direct else "—"))
    return surface


def readme_surface() -> set[tuple[str, str, str, str]]:
    text = README.read_text()
    assert SECTION in text, f"README.md has no '{SECTION}' section"
    rows = set()
    for line in text.split(SECTION, 1)[1].splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if not cells or cells[0] in ("name", "") or re.fullmatch(r"-+", cells[0]):
            continue
        assert len(cells) == 4, f"README.md '{SECTION}': row {line!r} does not have 4 cells"
        rows.add(tuple(cells))
    return rows


def row_text(r) -> str:
    return "| " + " | ".join(r) + " |"


def test_readme_lists_exactly_the_extension_surface(extension_path):
    have, documented = extension_surface(extension_path), readme_surface()
    missing = sorted(have - documented, key=lambda r: (r[0].strip('`'), r[2]))
    extra = sorted(documented - have, key=lambda r: (r[0].strip('`'), r[2]))
    msg = [f"README.md '{SECTION}' does not match what the extension registers."]
    if missing:
        msg.append("Add these rows (the extension has them, the README does not):")
        msg += ["  " + row_text(r) for r in missing]
    if extra:
        msg.append("Remove or correct these rows (in the README, not in the extension):")
        msg += ["  " + row_text(r) for r in extra]
    assert not missing and not extra, "\n".join(msg)


def test_surface_is_not_empty(extension_path):
    """The comparison means something: the known core is there."""
    have = extension_surface(extension_path)
    assert ("`embed`", "scalar", "2", "—") in have
    assert ("`embed_tokens`", "table", "2", "DIRECTONLY") in have
    assert ("`embed_similarity`", "scalar", "2", "DETERMINISTIC, INNOCUOUS") in have
