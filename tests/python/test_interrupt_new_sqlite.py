"""sqlite3_interrupt on a host SQLite >= 3.41 (pysqlite3-binary bundles one):
the extension reads sqlite3_is_interrupted from the host's routine table
(ext/ext_interrupt.c). The C host test test_host_interrupt covers Debian's
3.40 (no such routine: a probe statement instead)."""
import threading
import time

import pytest

pysqlite3 = pytest.importorskip("pysqlite3.dbapi2", reason="pysqlite3-binary (tests/python/requirements.txt)")


def test_interrupt_stops_a_long_embed(extension_path):
    from conftest import FIXTURES
    model = FIXTURES / "models" / "all-MiniLM-L6-v2.f32.gguf"
    if not model.is_file():
        pytest.fail(f"{model} missing (gen_models)")
    assert tuple(int(x) for x in pysqlite3.sqlite_version.split(".")) >= (3, 41, 0)
    con = pysqlite3.connect(":memory:", check_same_thread=False)
    con.enable_load_extension(True)
    con.load_extension(str(extension_path))
    con.execute("INSERT INTO embed_models(name, path) VALUES ('m', ?)", (str(model),))
    text = " ".join(f"word{i % 700}" for i in range(600))  # 512 tokens after truncation

    t0 = time.process_time()
    assert len(con.execute("SELECT embed('m', ?)", (text,)).fetchone()[0]) == 384 * 4
    whole = time.process_time() - t0

    done = threading.Event()

    def interrupter():
        start = time.process_time()
        while not done.is_set():
            if time.process_time() - start >= whole / 6:
                con.interrupt()
            time.sleep(0.002)

    t = threading.Thread(target=interrupter)
    t0 = time.process_time()
    t.start()
    try:
        with pytest.raises(pysqlite3.OperationalError, match="interrupted"):
            con.execute("SELECT embed('m', ?)", (text,)).fetchone()
    finally:
        done.set()
        t.join()
    cut = time.process_time() - t0
    assert cut < whole * 0.75, (cut, whole)
    # the connection works afterwards
    assert len(con.execute("SELECT embed('m', 'after')").fetchone()[0]) == 384 * 4
    con.close()
