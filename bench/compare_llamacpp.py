#!/usr/bin/env python3
"""Side-by-side comparison of sqlite-embed with llama.cpp (helper of
bench/compare_llamacpp.sh; run by hand, never in CI).

  compare_llamacpp.py texts OUT.txt
      the 64 speed texts (12 words each, bench/bench_embed.c's word list and
      formula), one per line
  compare_llamacpp.py crosscheck --llama BIN --ext SO --model M.gguf [...]
      embeds tests/python/ref_texts.py with llama-embedding and with embed_json()
      (sqlite3 shell); prints per-file min/mean cosine and per-text details
  compare_llamacpp.py llamafy [--all] SRC.gguf DST.gguf
      a copy with token_types and 1-D tensors (--all: every tensor) in F32
      (llama.cpp needs the former)
  compare_llamacpp.py speed --llama BIN --bench BIN --ext SO --texts T.txt
                            --model M.gguf [...] [--threads 1,2] [--runs 5]
      both engines, one text per forward ("one") and all 64 in one forward
      ("all"), runs interleaved process by process; prints median tables

Only the standard library is used; sqlite3 is the command-line shell (the
Python module cannot load extensions on this platform).
"""
import argparse
import json
import math
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

# bench/bench_embed.c: text i, word w = WORDS[(i*7 + w*3) % len(WORDS)]
WORDS = ["the", "model", "turns", "text", "into", "vectors", "inside", "sql", "queries", "and",
         "search", "finds", "similar", "documents", "quickly", "with", "cosine", "distance", "over",
         "embeddings", "of", "many", "different", "sentences", "written", "in", "plain", "english"]

SEP = "<|text-separator|>"  # llama-embedding splits prompts on this instead of '\n'


def speed_texts(n=64, words=12):
    return [" ".join(WORDS[(i * 7 + w * 3) % len(WORDS)] for w in range(words)) for i in range(n)]


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", **kw)


def make_db(path, texts):
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE texts(id INTEGER PRIMARY KEY, t TEXT)")
    db.executemany("INSERT INTO texts(id, t) VALUES (?, ?)", list(enumerate(texts)))
    db.commit()
    db.close()


def sqlite_shell(db, ext, script):
    p = run(["sqlite3", "-batch", "-bail", db], input=f".load {ext}\n" + script)
    if p.returncode != 0:
        raise RuntimeError(f"sqlite3 failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def ours_vectors_and_ids(ext, model, texts, tmp):
    db = os.path.join(tmp, "texts.db")
    make_db(db, texts)
    out = sqlite_shell(db, ext, f"""
INSERT INTO embed_models(name, path) VALUES ('m', {sql_quote(model)});
.mode list
.separator "\\t"
SELECT id, embed_tokenize('m', t), embed_json('m', t) FROM texts ORDER BY id;
""")
    vecs, ids = [], []
    for line in out.splitlines():
        i, tok, vec = line.split("\t")
        ids.append(json.loads(tok))
        vecs.append(json.loads(vec))
    return vecs, ids


def llama_vectors_and_ids(llama, model, texts, tmp, threads=2, extra=()):
    prompt = os.path.join(tmp, "prompt.txt")
    with open(prompt, "w", encoding="utf-8", newline="") as f:
        f.write(SEP.join(texts))
    cmd = [llama, "-m", model, "-f", prompt, "--embd-separator", SEP, "--embd-normalize", "2",
           "--embd-output-format", "json", "-c", "512", "-b", "512", "-ub", "512",
           "-t", str(threads), "--verbose-prompt", *extra]
    p = run(cmd)
    if p.returncode != 0:
        raise RuntimeError(f"llama-embedding failed ({p.returncode}): {p.stderr}")
    # --verbose-prompt: "number of tokens in prompt = N" per prompt on stderr, then
    # N lines "   id -> 'piece'" on stdout (before the JSON)
    start = p.stdout.find('{\n  "object": "list"')
    counts = [int(x) for x in re.findall(r"number of tokens in prompt = (\d+)", p.stderr)]
    flat = [int(x) for x in re.findall(r"^\s*(\d+) -> '", p.stdout[:start], re.M)]
    if len(flat) != sum(counts):
        raise RuntimeError(f"token dump: {len(flat)} ids for prompts of {sum(counts)} tokens")
    ids, k = [], 0
    for c in counts:
        ids.append(flat[k:k + c])
        k += c
    data, _ = json.JSONDecoder().raw_decode(p.stdout[start:])
    vecs = [d["embedding"] for d in sorted(data["data"], key=lambda d: d["index"])]
    return vecs, ids


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:
        return float("nan")
    return dot / (na * nb)


def llamafy(src, dst, all_f32=False):
    """Copies a GGUF with token_types and every 1-D tensor converted to F32:
    llama.cpp adds those with ggml_add/ggml_mul, whose CPU kernels take only
    F32 (or F16 on both sides) -- it aborts on e.g. F16/Q8_0 token_types, which
    our engine accepts (any type in any position) and the test fixtures use.
    all_f32: every tensor in F32."""
    import numpy as np
    import gguf
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, r.fields["general.architecture"].contents())
    for f in r.fields.values():
        if f.name == "general.architecture" or f.name.startswith("GGUF."):
            continue
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            w.add_key_value(f.name, f.contents(), f.types[0], sub_type=f.types[-1])
        else:
            w.add_key_value(f.name, f.contents(), f.types[0])
    for t in r.tensors:
        if ((all_f32 or t.name == "token_types.weight" or len(t.shape) == 1)
                and t.tensor_type != gguf.GGMLQuantizationType.F32):
            w.add_tensor(t.name, gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32))
        else:
            w.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def crosscheck(args):
    from ref_texts import TEXTS
    summary = []
    kept = {}  # model -> (texts, ours, llama, equal-ids flags)
    for model in args.model:
        with tempfile.TemporaryDirectory() as tmp:
            # bert files with a short context (the tiny fixtures: 64) cannot take the long
            # text in llama.cpp (it has no truncation); keep texts that fit for both
            db = os.path.join(tmp, "ctx.db")
            make_db(db, TEXTS)
            out = sqlite_shell(db, args.ext, f"""
INSERT INTO embed_models(name, path) VALUES ('m', {sql_quote(model)});
.mode list
SELECT n_ctx FROM embed_models WHERE name = 'm';
SELECT embed_token_count('m', t) FROM texts ORDER BY id;
""").split()
            ctx, counts = int(out[0]), [int(x) for x in out[1:]]
            texts = [t for t, c in zip(TEXTS, counts) if c <= min(ctx, 512)]
            try:
                try:
                    lv, lids = llama_vectors_and_ids(args.llama, model, texts, tmp, args.threads,
                                                       args.llama_arg or ())
                except RuntimeError as e:
                    # llama.cpp has no [UNK]-for-long-words rule: a text can have more
                    # tokens there than ours and overflow a short position table
                    # (it crashes); drop such texts, using its own counts, and retry
                    lc = [int(x) for x in re.findall(r"number of tokens in prompt = (\d+)", str(e))]
                    if len(lc) != len(texts) or max(lc) <= ctx:
                        raise
                    texts = [t for t, c in zip(texts, lc) if c <= ctx]
                    lv, lids = llama_vectors_and_ids(args.llama, model, texts, tmp, args.threads,
                                                       args.llama_arg or ())
            except RuntimeError as e:
                print(f"\n== {os.path.basename(model)}: llama.cpp cannot run it: {str(e)[-400:]}")
                summary.append((os.path.basename(model), 0, float("nan"), float("nan"), 0, float("nan")))
                continue
            ov, oids = ours_vectors_and_ids(args.ext, model, texts, tmp)
        if len(lv) != len(texts) or len(lids) != len(texts):
            raise RuntimeError(f"{model}: llama.cpp returned {len(lv)} vectors / {len(lids)} "
                               f"token lists for {len(texts)} texts")
        same, diff = [], []
        print(f"\n== {os.path.basename(model)}: {len(texts)} texts")
        for i, t in enumerate(texts):
            c = cosine(ov[i], lv[i])
            eq = oids[i] == lids[i]
            (same if eq else diff).append(c)
            note = "" if eq else f"  token ids differ: ours {len(oids[i])}, llama.cpp {len(lids[i])}"
            print(f"  {i:2d} 1-cos {1 - c:.3e}{note}  {t[:50]!r}")
        kept[model] = (texts, ov, lv, [oids[i] == lids[i] for i in range(len(texts))])
        row = (os.path.basename(model), len(same), min(same, default=float("nan")),
               statistics.fmean(same) if same else float("nan"),
               len(diff), min(diff) if diff else float("nan"))
        summary.append(row)
    print("\n| file | texts with equal token ids | min cosine | mean cosine | texts with other ids "
          "| min cosine there |")
    print("|---|---|---|---|---|---|")
    for r in summary:
        print(f"| {r[0]} | {r[1]} | {r[2]:.7f} | {r[3]:.7f} | {r[4]} | "
              f"{'—' if r[4] == 0 else f'{r[5]:.4f}'} |")
    family = lambda path: re.sub(r"[-.](f32|f16|bf16|q\d\w*|iq\w+|mixed)(\.lc)?\.gguf$", "",
                                 os.path.basename(path), flags=re.I)
    for base in args.baseline or []:
        # how far each engine's vectors move from its own vectors of the baseline
        # file (e.g. q8_0 vs f32 of the same model): separates the effect of the
        # weights' quantization from the engines' arithmetic
        bt, bo, bl, _ = kept[base]
        print(f"\n| file | cosine to {os.path.basename(base)}, ours: min / mean "
              f"| llama.cpp: min / mean |")
        print("|---|---|---|")
        for model, (texts, ov, lv, eq) in kept.items():
            if model == base or texts != bt or family(model) != family(base):
                continue
            co = [cosine(ov[i], bo[i]) for i in range(len(texts)) if eq[i]]
            cl = [cosine(lv[i], bl[i]) for i in range(len(texts)) if eq[i]]
            print(f"| {os.path.basename(model)} | {min(co):.7f} / {statistics.fmean(co):.7f} "
                  f"| {min(cl):.7f} / {statistics.fmean(cl):.7f} |")


def llama_run(llama, model, prompt, threads, mode, n_tokens):
    """Runs llama-embedding once; returns (stderr, CPU seconds of the process)."""
    # one: n_batch 24 holds one speed text (14-19 tokens) but never two; -np 2 because
    # the default (256 sequences) needs n_batch >= 256 outputs. all: -np = the 64
    # texts and n_batch = their tokens rounded up to a multiple of 64 (llama.cpp
    # reserves its graph for such a size), so each copy of them is one batch.
    if mode == "one":
        ctx, np_ = "24", "2"
    else:
        ctx, np_ = str(-(-n_tokens // 64) * 64), "64"
    # --embd-output-format none: no vectors, no similarity matrix printed (printing goes
    # through llama.cpp's log queue one number at a time and would dominate its CPU time)
    cmd = [llama, "-m", model, "-f", prompt, "--embd-normalize", "2", "--embd-output-format",
           "none", "-c", ctx, "-b", ctx, "-ub", ctx, "-np", np_,
           "-t", str(threads), "-tb", str(threads), "-lv", "5"]  # 5: llama_perf timings
    with open(os.devnull, "w") as null, tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen(cmd, stdout=null, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read()
    if p.returncode != 0:
        raise RuntimeError(f"llama-embedding failed: {log[-1500:]}")
    return log, ru.ru_utime + ru.ru_stime


def llama_speed(llama, model, prompt1, prompt, n_texts, n_tokens, threads, mode, reps):
    """llama-embedding on the texts `reps` times (prompt) and once (prompt1).
    mode one: every text is its own forward; all: each copy of the texts is
    one forward (both checked in the log).
    Returns (wall ms/text, CPU ms/text): wall from llama_perf's 'prompt eval
    time' of the long run (compute of the batches after the first, per token,
    times the average tokens per text; no tokenization, no load);
    CPU = the difference of the two processes' CPU times (load, warm-up and
    one pass cancel) / ((reps - 1) * n_texts)."""
    log, cpu = llama_run(llama, model, prompt, threads, mode, n_tokens)
    seqs = [int(x) for x in re.findall(r"batch_decode: n_tokens = \d+, n_seq = (\d+)", log)]
    want = [1] * (n_texts * reps) if mode == "one" else [n_texts] * reps
    if seqs != want:
        raise RuntimeError(f"llama-embedding batched {seqs[:8]}..., expected {want[:8]}...")
    m = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", log)
    if not m:
        raise RuntimeError("no 'prompt eval time' in llama-embedding's log")
    # llama_perf counts the tokens of every batch but not the time of the first one
    # (measured: one batch of 1072 tokens -> "0.00 ms / 1072 tokens"; 4 batches ->
    # the time of 3), so divide by the tokens of the batches after the first
    ms, counted = float(m.group(1)), int(m.group(2))
    first = n_tokens if mode == "all" else n_tokens / n_texts  # "one": ~ one text
    if counted != reps * n_tokens:
        raise RuntimeError(f"llama_perf counted {counted} tokens, expected {reps * n_tokens}")
    _, cpu1 = llama_run(llama, model, prompt1, threads, mode, n_tokens)
    return ms / (counted - first) * n_tokens / n_texts, (cpu - cpu1) * 1e3 / ((reps - 1) * n_texts)


def ours_speed(bench, model, texts_file, threads, mode, reps):
    p = run([bench, model, texts_file, "-m", mode, "-r", str(reps), "-t", str(threads)])
    if p.returncode != 0:
        raise RuntimeError(f"bench_texts failed: {p.stderr}")
    m = re.search(r"result: mode \w+, (\d+) texts, (\d+) tokens.*median wall ([\d.]+) ms/text.*"
                  r"median cpu ([\d.]+) ms/text", p.stdout)
    return float(m.group(3)), int(m.group(2)), float(m.group(4))


def sql_speed(ext, model, db, threads, reps):
    """ms/text of SELECT count(embed('m', t)) FROM texts (one embed() per row)."""
    script = f"""
INSERT INTO embed_models(name, path) VALUES ('m', {sql_quote(model)});
SELECT embed_threads({threads});
SELECT count(embed('m', t)) FROM texts;
.timer on
""" + "SELECT count(embed('m', t)) FROM texts;\n" * reps
    out = sqlite_shell(db, ext, script)
    real = [float(x) for x in re.findall(r"Run Time: real ([\d.]+)", out)]
    cpu = [float(u) + float(s) for u, s in re.findall(r"user ([\d.]+) sys ([\d.]+)", out)]
    return real, cpu


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def speed(args):
    texts = [l for l in open(args.texts, encoding="utf-8").read().split("\n") if l]
    n = len(texts)
    reps = args.reps
    with tempfile.TemporaryDirectory() as tmp:
        prompt = os.path.join(tmp, "prompt.txt")
        with open(prompt, "w", encoding="utf-8") as f:
            f.write("\n".join(texts * reps))
        prompt1 = os.path.join(tmp, "prompt1.txt")
        with open(prompt1, "w", encoding="utf-8") as f:
            f.write("\n".join(texts))
        # "all" mode: the same texts, longest first in every copy, so that the first
        # text of the next copy never fits into the rounding slack of n_batch
        by_len = sorted(texts, key=len, reverse=True)
        prompt_all = os.path.join(tmp, "prompt_all.txt")
        with open(prompt_all, "w", encoding="utf-8") as f:
            f.write("\n".join(by_len * reps))
        prompt_all1 = os.path.join(tmp, "prompt_all1.txt")
        with open(prompt_all1, "w", encoding="utf-8") as f:
            f.write("\n".join(by_len))
        db = os.path.join(tmp, "texts.db")
        make_db(db, texts)
        loads = [loadavg()]
        rows = []
        for model in args.model:
            for threads in [int(t) for t in args.threads.split(",")]:
                keys = ("l1", "lc1", "o1", "oc1", "sql", "sqlc", "la", "lca", "oa", "oca")
                res = {k: [] for k in keys}
                tokens = None
                for _ in range(args.runs):  # interleaved: A B A B ...
                    for mode, sfx in (("one", "1"), ("all", "a")):
                        ms, tokens, cpu = ours_speed(args.bench, model, args.texts, threads, mode, reps)
                        res["o" + sfx].append(ms)
                        res["oc" + sfx].append(cpu)
                        p1, pr = (prompt1, prompt) if mode == "one" else (prompt_all1, prompt_all)
                        ms, cpu = llama_speed(args.llama, model, p1, pr, n, tokens, threads, mode, reps)
                        res["l" + sfx].append(ms)
                        res["lc" + sfx].append(cpu)
                    if args.sql:
                        real, cpu = sql_speed(args.ext, model, db, threads, reps)
                        res["sql"].append(statistics.median(real) * 1e3 / n)
                        res["sqlc"].append(statistics.median(cpu) * 1e3 / n)
                    loads.append(loadavg())
                med = {k: statistics.median(v) if v else float("nan") for k, v in res.items()}
                rows.append((os.path.basename(model), threads, tokens, med))
                print(f"{os.path.basename(model)} t={threads}: " + ", ".join(
                    f"{k} {[round(x, 2) for x in v]}" for k, v in res.items() if v), flush=True)
    print(f"\n{n} texts, {rows[0][2] if rows else 0} tokens with [CLS]/[SEP]; medians of "
          f"{args.runs} interleaved runs; 1-min load average during the runs: "
          f"{min(loads, key=float)}-{max(loads, key=float)}")
    print("ms/text, wall (CPU); tokens/s from wall; ratio = llama.cpp / ours (> 1: we are faster)\n")
    print("| file | threads | one text per forward: llama.cpp | ours (bench_texts) | ours (SQL embed()) "
          "| ratio wall (CPU) | 64 texts in one forward: llama.cpp | ours | ratio wall (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, threads, tokens, m in rows:
        tps = lambda ms: tokens / (ms * n) * 1e3
        print(f"| {name} | {threads} | {m['l1']:.2f} ({m['lc1']:.2f}) | {m['o1']:.2f} ({m['oc1']:.2f}) | "
              f"{m['sql']:.2f} ({m['sqlc']:.2f}) | {m['l1'] / m['o1']:.2f} ({m['lc1'] / m['oc1']:.2f}) | "
              f"{m['la']:.2f} ({m['lca']:.2f}), {tps(m['la']):.0f} tok/s | "
              f"{m['oa']:.2f} ({m['oca']:.2f}), {tps(m['oa']):.0f} tok/s | "
              f"{m['la'] / m['oa']:.2f} ({m['lca'] / m['oca']:.2f}) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("texts")
    t.add_argument("out")
    c = sub.add_parser("crosscheck")
    c.add_argument("--llama", required=True, help="llama-embedding binary")
    c.add_argument("--ext", required=True, help="embed.so (without or with the suffix)")
    c.add_argument("--model", required=True, action="append")
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--baseline", action="append", help="one of the --model files (e.g. the f32 one): also compare "
                   "each engine's vectors of the other files with its own vectors of this one")
    c.add_argument("--llama-arg", action="append", help="extra llama-embedding argument "
                   "(repeat; e.g. --llama-arg=-fa --llama-arg=off)")
    lf = sub.add_parser("llamafy")
    lf.add_argument("--all", action="store_true", help="every tensor in F32")
    lf.add_argument("src")
    lf.add_argument("dst")
    s = sub.add_parser("speed")
    s.add_argument("--llama", required=True)
    s.add_argument("--bench", required=True, help="bench_texts binary")
    s.add_argument("--ext", required=True)
    s.add_argument("--texts", required=True)
    s.add_argument("--model", required=True, action="append")
    s.add_argument("--threads", default="1,2")
    s.add_argument("--runs", type=int, default=5, help="interleaved process runs per engine")
    s.add_argument("--reps", type=int, default=4, help="passes over the texts per process")
    s.add_argument("--no-sql", dest="sql", action="store_false")
    a = ap.parse_args()
    if a.cmd == "texts":
        with open(a.out, "w", encoding="utf-8") as f:
            f.write("\n".join(speed_texts()) + "\n")
    elif a.cmd == "llamafy":
        llamafy(a.src, a.dst, a.all)
    elif a.cmd == "crosscheck":
        crosscheck(a)
    else:
        speed(a)


if __name__ == "__main__":
    main()
