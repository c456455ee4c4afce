#!/usr/bin/env python3
"""Measures sqlite-embed (through SQL) and llama.cpp side by side, in one run,
the engines interleaved, and writes everything into one JSON file
(bench/run.sh calls this; bench/bench_report.py turns the JSON into the
markdown table and the plots). Standard library only.

  bench_run.py --ext EMBED.so --llama-driver BIN --model F16.gguf [--model ...]
               --out results.json [--threads 1,2] [--reps 3] [--quick]

Every measurement is one process per engine, started alternately (ours,
llama.cpp, llama.cpp, ours, ... : the order flips every repetition) so that
both see the same load. In every child OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
are removed from the environment (the caller's values are recorded): with
OPENBLAS_CORETYPE set, OpenBLAS obeys it and sqlite-embed's CPUID choice is
overridden.

Measurements (see docs/benchmarks.md "Benchmark command"):
  bulk     256 short sentences: ours one embed() per row, ours embed_batch (if
           the extension has it), llama.cpp in batches of n_ubatch tokens;
           wall and CPU (user+sys, all threads) of whole passes after a warm-up
  sweep    the same texts at several batch sizes (plot: throughput vs. batch)
  query    the 14-token query alone, per call: p50 / p95 of wall, CPU
  length   one text of 8 ... 2048 tokens alone, 2 calls each, 1 thread, one
           process per engine (plot: latency vs. input length)
  first    process start -> first vector (model load, first call), warm page cache
  memory   peak private memory of the whole process (RssAnon, sampled every
           millisecond from /proc/PID/status; VmHWM too): ours in the sqlite3
           shell, llama.cpp in llama_driver; a 2,048-token text, 64 short texts
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import workloads  # noqa: E402

SYS_PYTHON = "/usr/bin/python3"  # Debian's: its sqlite3 module can load extensions
DROPPED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TIMEOUT = 1800  # seconds per child process


class BenchError(RuntimeError):
    pass


def child_env():
    env = dict(os.environ)
    for k in DROPPED_ENV:
        env.pop(k, None)
    return env


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def read_status(pid):
    """(RssAnon kB, VmHWM kB) of a live process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            s = f.read()
    except OSError:
        return None
    anon = re.search(r"^RssAnon:\s+(\d+) kB", s, re.M)
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", s, re.M)
    if not anon or not hwm:
        return None
    return int(anon.group(1)), int(hwm.group(1))


def run_child(cmd, stdin_text, sample_memory=False, what=""):
    """Runs cmd with the texts on stdin. Returns dict(events, stdout, wall, cpu,
    spawn_unix, peak_anon_kb, hwm_kb). Raises BenchError naming `what`."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryFile("w+") as inp:
        inp.write(stdin_text)
        inp.seek(0)
        spawn_unix = time.time()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=err, env=child_env())
        peak_anon = hwm = 0
        deadline = t0 + TIMEOUT
        status = ru = None
        try:
            while True:
                pid, st, r = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    status, ru = st, r
                    break
                if sample_memory:
                    s = read_status(p.pid)
                    if s:
                        peak_anon, hwm = max(peak_anon, s[0]), max(hwm, s[1])
                    time.sleep(0.001)
                else:
                    time.sleep(0.005)
                if time.perf_counter() > deadline:
                    raise BenchError(f"{what}: timed out after {TIMEOUT} s: {' '.join(cmd)}")
        except BaseException:
            # timeout, Ctrl-C or SIGTERM: never leave a measuring child behind
            if status is None:
                p.kill()
                p.wait()
            raise
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        raise BenchError(f"{what}: exit status {p.returncode} from {' '.join(cmd[:4])} ...:\n"
                         f"{stderr.strip()[-2000:]}")
    events = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return dict(events=events, stdout=stdout, wall=wall, cpu=ru.ru_utime + ru.ru_stime,
                spawn_unix=spawn_unix, peak_anon_kb=peak_anon, hwm_kb=hwm)


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


class Engines:
    """Command lines of the two engines' drivers."""

    def __init__(self, args):
        self.ext = args.ext
        self.llama = args.llama_driver
        self.sqlite3 = args.sqlite3

    def ours(self, model, threads, *mode):
        return [SYS_PYTHON, os.path.join(HERE, "sql_driver.py"), self.ext, model, str(threads),
                *[str(m) for m in mode]]

    def lcpp(self, model, threads, *mode):
        return [self.llama, model, str(threads), *[str(m) for m in mode]]

    def shell_script(self, model, threads, body):
        return (f".bail on\n.load {self.ext}\n"
                f"INSERT INTO embed_models(name, path) VALUES ('m', {sql_quote(model)});\n"
                f"SELECT embed_threads({threads});\n{body}")


def check_tokens(ev, want, what):
    ready = [e for e in ev if e.get("event") == "ready"]
    if not ready:
        raise BenchError(f"{what}: no 'ready' line")
    got = ready[0]["tokens"]
    if want is not None and got != want:
        diff = [i for i, (a, b) in enumerate(zip(got, want)) if a != b][:5]
        raise BenchError(f"{what}: token counts differ from sqlite-embed's (texts {diff}); "
                         "the engines would not embed the same inputs")
    return got


def passes(ev):
    return [e for e in ev if e.get("event") == "pass"]


def calls(ev):
    return [e for e in ev if e.get("event") == "call"]


def interleave(rep, jobs):
    """The jobs of one repetition; reversed on odd repetitions (A B, B A, ...)."""
    return jobs if rep % 2 == 0 else list(reversed(jobs))


def machine_info(args, debug):
    info = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(), "cpus": os.cpu_count()}
    cpu = open("/proc/cpuinfo").read()
    m = re.search(r"^model name\s*:\s*(.*)$", cpu, re.M)
    info["cpu_model"] = m.group(1).strip() if m else "?"
    m = re.search(r"^flags\s*:\s*(.*)$", cpu, re.M)
    flags = m.group(1).split() if m else []
    info["simd_flags"] = [f for f in flags if re.match(r"(avx|fma|f16c|amx|sse4_2)", f)]
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for key in ("Hypervisor vendor", "L1d cache", "L2 cache", "L3 cache", "Model", "CPU family"):
            m = re.search(rf"^{key}:\s*(.*)$", lscpu, re.M)
            if m:
                info[key.lower().replace(" ", "_")] = m.group(1).strip()
    except OSError:
        pass
    comp = {}
    for c in ("gcc", "g++", "clang"):
        try:
            comp[c] = subprocess.run([c, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            comp[c] = "not found"
    info["compilers"] = comp
    info["embed_debug"] = debug
    m = re.search(r"^blas: (.*)$", debug, re.M)
    info["openblas"] = m.group(1) if m else "?"
    m = re.search(r"^blas coretype: (.*)$", debug, re.M)
    info["openblas_coretype"] = m.group(1) if m else "? (embed_debug() has no 'blas coretype' line)"
    info["caller_env"] = {k: os.environ.get(k) for k in DROPPED_ENV}
    info["child_env_note"] = ("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from every measured "
                              "process's environment (env -u): the extension's CPUID choice applies")
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ext", required=True, help="embed.so (path without or with .so)")
    ap.add_argument("--llama-driver", required=True)
    ap.add_argument("--sqlite3", default=shutil.which("sqlite3") or "sqlite3", help="sqlite3 shell")
    ap.add_argument("--model", action="append", required=True,
                    help="GGUF file, same for both engines (name: ...-F16/-Q8_0/-Q4_K_M...)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (processes per engine)")
    ap.add_argument("--ubatch-sweep", default="0,256,512,2048",
                    help="llama.cpp n_ubatch values of the sweep (0: one text per batch)")
    ap.add_argument("--texts-sweep", default="1,16,0",
                    help="texts per embed_batch statement in the sweep (0: all)")
    ap.add_argument("--length-models", default="all",
                    help="comma-separated substrings of the model files that get the latency-vs-length "
                         "curve (all: every model)")
    ap.add_argument("--reps-more-threads", type=int, default=None,
                    help="repetitions at the thread counts after the first (default: --reps)")
    ap.add_argument("--memory-threads", default="all", help="thread counts of the memory runs (all)")
    ap.add_argument("--sweep-models", default="all",
                    help="comma-separated substrings of the model files that get the batch-size sweep "
                         "(others use the best n_ubatch of the first swept file)")
    ap.add_argument("--sweep-threads", default="1", help="thread counts of the batch-size sweep (its best "
                    "n_ubatch at the first of them is used for the others)")
    ap.add_argument("--quick", action="store_true",
                    help="iteration mode: 1 repetition, 64 of the 256 sentences, short sweeps")
    ap.add_argument("--only", default="bulk,sweep,query,length,first,memory",
                    help="comma-separated subset of the measurements")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                    help="extra facts for the JSON (llama.cpp version, commit ...)")
    args = ap.parse_args()
    if not os.access(SYS_PYTHON, os.X_OK):
        raise BenchError(f"{SYS_PYTHON} (Debian's python3, which can load SQLite extensions) is missing")
    for m in args.model:
        if not os.path.isfile(m):
            raise BenchError(f"model file {m} does not exist")
    if not os.access(args.llama_driver, os.X_OK):
        raise BenchError(f"llama driver {args.llama_driver} is not executable")
    threads = [int(t) for t in args.threads.split(",")]
    only = set(args.only.split(","))
    reps = 1 if args.quick else args.reps
    eng = Engines(args)

    sentences = workloads.short_sentences()
    if args.quick:
        sentences = sentences[:64]
    s_text = "\n".join(sentences) + "\n"
    short64 = workloads.short_sentences()[:64]
    long_text = workloads.text_of_tokens(2048)
    lengths = workloads.LENGTHS if not args.quick else (8, 14, 64, 256, 1024)
    u_sweep = tuple(int(x) for x in args.ubatch_sweep.split(","))
    k_sweep = tuple(int(x) for x in args.texts_sweep.split(","))
    if args.quick:
        u_sweep, k_sweep = (0, 256, 2048), (1, 16, 0)
    sweep_threads = [int(t) for t in args.sweep_threads.split(",")]

    # the extension as it will be measured: core type, batch path
    info = run_child(eng.ours(args.model[0], 1, "info"), "", what="embed_debug()")["events"][0]
    has_batch = bool(info["embed_batch"])
    res = {"meta": machine_info(args, info["debug"]),
           "config": {"reps": reps, "quick": args.quick, "threads": threads,
                      "models": [os.path.basename(m) for m in args.model],
                      "n_sentences": len(sentences), "query": workloads.QUERY,
                      "lengths": list(lengths), "ubatch_sweep": list(u_sweep),
                      "texts_per_call_sweep": list(k_sweep), "sweep_threads": sweep_threads,
                      "reps_more_threads": (args.reps_more_threads if args.reps_more_threads and not args.quick
                                            else reps),
                      "embed_batch": "available" if has_batch else "not available"},
           "bulk": [], "sweep": [], "query": [], "length": [], "first": [], "memory": [],
           "load": []}
    for kv in args.meta:
        k, _, v = kv.partition("=")
        res["meta"][k] = v
    log(f"OpenBLAS core type: {res['meta']['openblas_coretype']}; embed_batch {res['config']['embed_batch']}")
    log("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from the measured processes' environment "
        f"(caller had: {res['meta']['caller_env']})")

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        os.replace(tmp, args.out)

    def note_load(stage):
        res["load"].append({"stage": stage, "loadavg1": loadavg(), "unix": time.time()})

    def measure(model, t, engine, cmd, text, kind, **extra):
        what = f"{kind} {engine} {os.path.basename(model)} t={t} {extra}"
        r = run_child(cmd, text, what=what)
        return r

    best_u = {}
    for model in args.model:
        name = os.path.basename(model)
        # token counts: ours are the reference, llama.cpp must see the same
        ours_tok = check_tokens(run_child(eng.ours(model, 1, "tokens"), s_text, what="tokens")["events"],
                                None, "ours tokens")
        lc_tok = check_tokens(run_child(eng.lcpp(model, 1, "tokens"), s_text,
                                        what="llama tokens")["events"], ours_tok, f"llama.cpp on {name}")
        n_tokens = sum(ours_tok)
        log(f"{name}: {len(sentences)} sentences, {n_tokens} tokens (equal counts in both engines)")
        for t in threads:
            note_load(f"{name} t={t} start")
            reps_t = (reps if t == threads[0] or args.reps_more_threads is None or args.quick
                      else args.reps_more_threads)
            sweep_wanted = args.sweep_models == "all" or any(x in name for x in args.sweep_models.split(","))
            if "sweep" in only and t in sweep_threads and sweep_wanted:
                # throughput vs batch size: llama.cpp n_ubatch, ours texts per embed_batch statement
                jobs = [("llama", u) for u in u_sweep]
                if has_batch:
                    jobs += [("ours-batch", k) for k in k_sweep]
                jobs.sort(key=lambda j: (j[1] if j[1] else 1e9))
                for rep in range(1 if not args.quick else 1):
                    for eng_name, p in interleave(rep, jobs):
                        cmd = (eng.lcpp(model, t, "bulk", p, 1) if eng_name == "llama"
                               else eng.ours(model, t, "batch", p, 1))
                        r = measure(model, t, eng_name, cmd, s_text, "sweep", param=p)
                        ps = passes(r["events"])[0]
                        res["sweep"].append({"model": name, "threads": t, "engine": eng_name, "param": p,
                                             "rep": rep, "wall": ps["wall"], "cpu": ps["cpu"],
                                             "tokens": ps["tokens"], "load": loadavg(),
                                             "calls": ps.get("batches", ps.get("statements"))})
                        log(f"sweep {name} t={t} {eng_name} {p}: {ps['tokens'] / ps['wall']:.0f} tok/s wall, "
                            f"{ps['tokens'] / ps['cpu']:.0f} tok/s CPU")
                        save()
                lc = [s for s in res["sweep"] if s["model"] == name and s["threads"] == t
                      and s["engine"] == "llama" and s["param"] > 0]
                if lc:
                    # 1 thread: the least CPU time (on a shared machine wall time also measures
                    # the neighbours); more threads: the least wall time (CPU counts spinning)
                    key = (lambda s: s["cpu"]) if t == 1 else (lambda s: s["wall"])
                    best_u[(name, t)] = min(lc, key=key)["param"]
            # without a sweep of this file: the best n_ubatch of this file at the sweep's thread
            # count, else of the first swept file
            u = (best_u.get((name, t)) or best_u.get((name, sweep_threads[0])) or
                 next((v for (n, tt), v in best_u.items() if tt == sweep_threads[0]), 512))
            if "bulk" in only:
                jobs = [("ours-row", None), ("llama", u)]
                if has_batch:
                    jobs.insert(1, ("ours-batch", 0))
                # repetition 0 of llama.cpp at its best n_ubatch and of embed_batch with all
                # texts in one statement is the sweep's measurement (same texts, same pass)
                reused = set()
                for s in list(res["sweep"]):
                    if (s["model"] == name and s["threads"] == t and
                            (s["engine"], s["param"]) in (("llama", u), ("ours-batch", 0))):
                        res["bulk"].append({"model": name, "threads": t, "engine": s["engine"],
                                            "param": s["param"], "rep": 0, "wall": s["wall"], "cpu": s["cpu"],
                                            "tokens": s["tokens"], "load": s.get("load"), "from_sweep": True})
                        reused.add(s["engine"])
                for rep in range(reps_t):
                    for eng_name, p in interleave(rep, jobs):
                        if rep == 0 and eng_name in reused:
                            continue
                        if eng_name == "llama":
                            cmd = eng.lcpp(model, t, "bulk", p, 1)
                        elif eng_name == "ours-row":
                            cmd = eng.ours(model, t, "row", 1)
                        else:
                            cmd = eng.ours(model, t, "batch", 0, 1)
                        r = measure(model, t, eng_name, cmd, s_text, "bulk")
                        ps = passes(r["events"])[0]
                        res["bulk"].append({"model": name, "threads": t, "engine": eng_name, "param": p,
                                            "rep": rep, "wall": ps["wall"], "cpu": ps["cpu"],
                                            "tokens": ps["tokens"], "load": loadavg()})
                        log(f"bulk {name} t={t} {eng_name} {p}: {ps['tokens'] / ps['wall']:.0f} tok/s wall, "
                            f"{ps['tokens'] / ps['cpu']:.0f} tok/s CPU (load {loadavg():.1f})")
                        save()
            if "query" in only:
                n_calls = 10 if args.quick else 20
                for rep in range(reps_t):
                    for eng_name in interleave(rep, ["ours", "llama"]):
                        cmd = (eng.ours(model, t, "query", n_calls) if eng_name == "ours"
                               else eng.lcpp(model, t, "query", n_calls))
                        r = measure(model, t, eng_name, cmd, workloads.QUERY + "\n", "query")
                        cs = calls(r["events"])
                        res["query"].append({"model": name, "threads": t, "engine": eng_name, "rep": rep,
                                             "tokens": cs[0]["tokens"], "wall": [c["wall"] for c in cs],
                                             "cpu": [c["cpu"] for c in cs]})
                        log(f"query {name} t={t} {eng_name}: p50 "
                            f"{statistics.median(c['wall'] for c in cs) * 1e3:.1f} ms wall, "
                            f"{statistics.median(c['cpu'] for c in cs) * 1e3:.1f} ms CPU")
                        save()
            if "first" in only:
                for rep in range(reps_t):
                    for eng_name in interleave(rep, ["ours", "llama"]):
                        if eng_name == "ours":
                            script = eng.shell_script(model, t, f"SELECT length(embed('m', {sql_quote(workloads.QUERY)}));\n"
                                                      "SELECT printf('first_vector %.3f', "
                                                      "(julianday('now') - 2440587.5) * 86400.0);\n")
                            r = run_child([eng.sqlite3, "-batch", ":memory:"], script, what="first ours")
                            m = re.search(r"first_vector ([\d.]+)", r["stdout"])
                            if not m:
                                raise BenchError(f"first ours: no timestamp in {r['stdout']!r}")
                            first = float(m.group(1))
                        else:
                            r = run_child(eng.lcpp(model, t, "first"), workloads.QUERY + "\n", what="first llama")
                            first = [e for e in r["events"] if e["event"] == "first_vector"][0]["unix"]
                        res["first"].append({"model": name, "threads": t, "engine": eng_name, "rep": rep,
                                             "first_vector": first - r["spawn_unix"],
                                             "process_wall": r["wall"], "process_cpu": r["cpu"]})
                        log(f"first {name} t={t} {eng_name}: {first - r['spawn_unix']:.3f} s to the first vector, "
                            f"process {r['wall']:.3f} s wall {r['cpu']:.3f} s CPU")
                        save()
            if "memory" in only and (args.memory_threads == "all" or
                                     t in [int(x) for x in args.memory_threads.split(",")]):
                tbl = "CREATE TABLE texts(id INTEGER PRIMARY KEY, t TEXT);\n" + "".join(
                    f"INSERT INTO texts(t) VALUES ({sql_quote(s)});\n" for s in short64)
                mem_jobs = [
                    ("2048-token text", "ours", "embed()",
                     f"SELECT length(embed('m', {sql_quote(long_text)}));\n", None),
                    ("2048-token text", "llama", "n_ubatch 2048", None, (long_text, ["bulk", 2048, 1])),
                    ("64 short texts", "ours", "embed() per row", tbl + "SELECT count(embed('m', t)) FROM texts;\n",
                     None),
                    ("64 short texts", "llama", "one text per batch", None, ("\n".join(short64), ["bulk", 0, 1])),
                    ("64 short texts", "llama", f"n_ubatch {u}", None, ("\n".join(short64), ["bulk", u, 1])),
                ]
                if has_batch:
                    mem_jobs.insert(3, ("64 short texts", "ours", "embed_batch", tbl +
                                        "SELECT count(vector) FROM embed_batch('m', "
                                        "(SELECT json_group_array(t) FROM texts));\n", None))
                for work, eng_name, how, script, lc in mem_jobs:
                    if eng_name == "ours":
                        r = run_child([eng.sqlite3, "-batch", ":memory:"], eng.shell_script(model, t, script),
                                      sample_memory=True, what=f"memory ours {work}")
                    else:
                        r = run_child(eng.lcpp(model, t, *lc[1]), lc[0] + "\n", sample_memory=True,
                                      what=f"memory llama {work}")
                    res["memory"].append({"model": name, "threads": t, "engine": eng_name, "workload": work,
                                          "how": how, "peak_anon_kb": r["peak_anon_kb"], "hwm_kb": r["hwm_kb"],
                                          "process_wall": r["wall"], "process_cpu": r["cpu"]})
                    log(f"memory {name} t={t} {eng_name} {work} ({how}): peak RssAnon "
                        f"{r['peak_anon_kb'] / 1024:.1f} MiB, VmHWM {r['hwm_kb'] / 1024:.1f} MiB")
                    save()
        length_wanted = args.length_models == "all" or any(x in name for x in args.length_models.split(","))
        if "length" in only and 1 in threads and length_wanted:
            # latency vs input length, 1 thread; per length a separate text, 3-5 calls
            texts = [workloads.text_of_tokens(n) for n in lengths]
            n_calls = 2
            for rep in range(1):
                for eng_name in interleave(rep, ["ours", "llama"]):
                    cmd = (eng.ours(model, 1, "query", n_calls) if eng_name == "ours"
                           else eng.lcpp(model, 1, "query", n_calls))
                    r = measure(model, 1, eng_name, cmd, "\n".join(texts) + "\n", "length")
                    for c in calls(r["events"]):
                        res["length"].append({"model": name, "threads": 1, "engine": eng_name, "rep": rep,
                                              "tokens": c["tokens"], "wall": c["wall"], "cpu": c["cpu"]})
                    log(f"length {name} {eng_name} rep {rep} done")
                    save()
    note_load("end")
    save()
    log(f"wrote {args.out}")
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench_run: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench_run: interrupted", file=sys.stderr)
        sys.exit(130)
