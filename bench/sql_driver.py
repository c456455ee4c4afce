"""sql_driver: the sqlite-embed side of bench/run.sh, through SQL. Runs under
Debian's /usr/bin/python3 (whose sqlite3 module can load extensions; the
pyenv python cannot); standard library only. Mirrors bench/llama_driver.c:
same modes, same JSON lines, same clocks.

  python3 sql_driver.py EXT MODEL THREADS MODE [ARGS] < TEXTS   (one per line)
    row PASSES          a warm-up on the first 16 texts, then PASSES timed passes of
                        SELECT count(embed('m', t)) FROM texts   (one embed() per row)
    batch K PASSES      the same through
                        SELECT count(vector) FROM embed_batch('m',
                            (SELECT json_group_array(t) FROM texts WHERE id BETWEEN ? AND ?))
                        K texts per statement (0: all texts in one statement)
    query REPS          one warm-up embed() of the first text, then per text REPS timed ones
    info                embed_debug() and whether embed_batch exists
    tokens              only the "ready" line (token counts)

Output lines: {"event":"ready","tokens":[...]}, {"event":"pass","wall":s,
"cpu":s,"tokens":n,"statements":k}, {"event":"call","text":i,"tokens":n,
"wall":s,"cpu":s}, {"event":"info",...}. cpu = this process's user+sys (all
threads; Python's own share is a few microseconds per statement).
"""
import json
import resource
import sqlite3
import sys
import time


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def emit(**kw):
    print(json.dumps(kw), flush=True)


def has_embed_batch(db):
    try:
        db.execute("SELECT count(*) FROM embed_batch('m', '[]')").fetchone()
        return True
    except sqlite3.Error as e:
        if "no such table" in str(e) or "no such function" in str(e):
            return False
        raise


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    ext, model, threads, mode = argv[1], argv[2], int(argv[3]), argv[4]
    args = [int(a) for a in argv[5:]]
    texts = [l for l in sys.stdin.read().split("\n") if l]
    db = sqlite3.connect(":memory:")
    db.enable_load_extension(True)
    db.load_extension(ext)
    db.execute("INSERT INTO embed_models(name, path) VALUES ('m', ?)", (model,))
    db.execute("SELECT embed_threads(?)", (threads,)).fetchone()
    if mode == "info":
        emit(event="info", debug=db.execute("SELECT embed_debug()").fetchone()[0],
             embed_batch=has_embed_batch(db))
        return 0
    db.execute("CREATE TABLE texts(id INTEGER PRIMARY KEY, t TEXT)")
    db.executemany("INSERT INTO texts(id, t) VALUES (?, ?)", list(enumerate(texts)))
    tokens = [r[0] for r in db.execute("SELECT embed_token_count('m', t) FROM texts ORDER BY id")]
    emit(event="ready", tokens=tokens)
    if mode == "tokens":
        return 0
    total = sum(tokens)

    def timed(fn):
        w0, c0 = time.perf_counter(), cpu_s()
        fn()
        return time.perf_counter() - w0, cpu_s() - c0

    if mode == "row":
        passes = args[0] if args else 1

        def one_pass():
            n = db.execute("SELECT count(embed('m', t)) FROM texts").fetchone()[0]
            if n != len(texts):
                raise RuntimeError(f"embed() returned {n} vectors for {len(texts)} texts")

        db.execute("SELECT count(embed('m', t)) FROM texts WHERE id < 16").fetchone()  # warm-up
        for _ in range(passes):
            wall, cpu = timed(one_pass)
            emit(event="pass", wall=wall, cpu=cpu, tokens=total, statements=len(texts))
    elif mode == "batch":
        k = args[0] if args and args[0] > 0 else len(texts)
        passes = args[1] if len(args) > 1 else 1
        sql = ("SELECT count(vector) FROM embed_batch('m', "
               "(SELECT json_group_array(t) FROM texts WHERE id BETWEEN ? AND ?))")

        def one_pass():
            n = 0
            for lo in range(0, len(texts), k):
                n += db.execute(sql, (lo, lo + k - 1)).fetchone()[0]
            if n != len(texts):
                raise RuntimeError(f"embed_batch returned {n} vectors for {len(texts)} texts")

        db.execute(sql, (0, 15)).fetchone()  # warm-up: the first 16 texts
        for _ in range(passes):
            wall, cpu = timed(one_pass)
            emit(event="pass", wall=wall, cpu=cpu, tokens=total, statements=-(-len(texts) // k))
    elif mode == "query":
        reps = args[0] if args else 1
        db.execute("SELECT embed('m', ?)", (texts[0],)).fetchone()  # warm-up: the first text
        for i, t in enumerate(texts):
            q = lambda: db.execute("SELECT embed('m', ?)", (t,)).fetchone()
            for _ in range(reps):
                wall, cpu = timed(q)
                emit(event="call", text=i, tokens=tokens[i], wall=wall, cpu=cpu)
    else:
        print(f"sql_driver: unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (sqlite3.Error, RuntimeError, OSError, ValueError) as e:
        print(f"sql_driver: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
