#!/usr/bin/python3
"""Peak private memory of the sqlite3 shell embedding texts (docs/benchmarks.md §8).

    bench/sql_peak_memory.py EXT MODEL TEXTS.txt one|long [threads]

Runs `sqlite3 :memory:`, loads EXT, registers MODEL, optionally calls
embed_threads(threads), then embeds TEXTS.txt: `one` = one embed() per line,
`long` = the first line as one text. Samples /proc/PID/status RssAnon (private
anonymous memory of the whole process) every millisecond and prints its peak,
wall and CPU time (user + sys of the shell). Any python3 works: it drives the
sqlite3 shell, not Python's sqlite3 module.
"""
import resource
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 5 or sys.argv[4] not in ("one", "long"):
        print(__doc__, file=sys.stderr)
        return 2
    ext, model, texts_path, mode = sys.argv[1:5]
    threads = sys.argv[5] if len(sys.argv) > 5 else None
    lines = [l for l in open(texts_path, encoding="utf-8").read().split("\n") if l]

    def q(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    script = f".load {ext}\nINSERT INTO embed_models(name, path) VALUES ('m', {q(model)});\n"
    if threads:
        script += f"SELECT embed_threads({int(threads)});\n"
    script += "CREATE TEMP TABLE t(x);\n"
    rows = lines[:1] if mode == "long" else lines
    script += "".join(f"INSERT INTO t VALUES ({q(l)});\n" for l in rows)
    script += "SELECT count(length(embed('m', x))) FROM t;\n"
    t0 = time.time()
    p = subprocess.Popen(["sqlite3", "-batch", "-bail", ":memory:"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write(script)
    p.stdin.close()
    peak = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.001)
    out, err = p.stdout.read(), p.stderr.read()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"peak RssAnon {peak / 1024:.2f} MiB ({peak * 1024 / 1e6:.2f} MB), "
          f"wall {time.time() - t0:.2f} s, cpu {ru.ru_utime + ru.ru_stime:.2f} s; "
          f"output {out.split()} {err.strip()}")
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
