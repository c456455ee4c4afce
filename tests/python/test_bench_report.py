"""Smoke tests of the benchmark tooling (bench/run.sh is run by hand, not in
CI): the report's arithmetic and markdown splicing on a tiny hand-made result
set, and the SQL driver's JSON protocol on a tiny fixture model."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD, FIXTURES, REPO

sys.path.insert(0, str(REPO / "bench"))
import bench_report  # noqa: E402
import workloads  # noqa: E402


def tiny_results():
    """Two engines, one model, 1 thread; numbers chosen so the ratios are exact."""
    bulk = []
    for rep, (ow, lw) in enumerate([(2.0, 3.0), (2.5, 4.0), (1.0, 5.0)]):
        bulk.append({"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": "ours-batch", "param": 0,
                     "rep": rep, "wall": ow, "cpu": ow, "tokens": 1000})
        bulk.append({"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": "llama", "param": 256,
                     "rep": rep, "wall": lw, "cpu": lw * 2, "tokens": 1000})
    query = [{"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": "ours", "rep": 0, "tokens": 14,
              "wall": [0.010, 0.012, 0.011, 0.030], "cpu": [0.010] * 4},
             {"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": "llama", "rep": 0, "tokens": 14,
              "wall": [0.020, 0.022, 0.024, 0.021], "cpu": [0.020] * 4}]
    memory = [{"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": "ours", "workload": "2048-token text",
               "how": "embed()", "peak_anon_kb": 20 * 1024, "hwm_kb": 300 * 1024, "process_wall": 1,
               "process_cpu": 1},
              {"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": "ours", "workload": "64 short texts",
               "how": "embed() per row", "peak_anon_kb": 9 * 1024, "hwm_kb": 280 * 1024, "process_wall": 1,
               "process_cpu": 1}]
    sweep = [{"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": e, "param": p, "rep": 0,
              "wall": w, "cpu": w, "tokens": 1000, "calls": 4}
             for e, p, w in [("llama", 0, 6.0), ("llama", 256, 3.0), ("ours-batch", 1, 4.0), ("ours-batch", 0, 2.0)]]
    length = [{"model": "nomic-full-F16.lc.gguf", "threads": 1, "engine": e, "rep": 0, "tokens": n,
               "wall": n * k, "cpu": n * k} for e, k in [("ours", 1e-3), ("llama", 2e-3)] for n in (8, 64, 512)]
    return {"meta": {"date_utc": "2026-01-01 00:00 UTC", "cpu_model": "Test CPU", "cpus": 2,
                     "simd_flags": ["avx2"], "openblas": "OpenBLAS 0.3.21", "openblas_coretype": "SkylakeX",
                     "caller_env": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": None}, "compilers": {}},
            "config": {"reps": 3, "quick": False, "n_sentences": 32, "query": workloads.QUERY,
                       "embed_batch": "available"},
            "bulk": bulk, "sweep": sweep, "query": query, "first": [], "memory": memory, "length": length,
            "load": [{"stage": "x", "loadavg1": 1.5, "unix": 0}]}


def test_bulk_ratio_uses_medians_of_wall_and_cpu():
    md = bench_report.markdown(tiny_results())
    # medians: ours wall 2.0 s, llama wall 4.0 s -> 500 vs 250 tokens/s, ratio 2.00;
    # CPU: ours 2.0 s, llama 8.0 s -> ratio 4.00
    row = [l for l in md.splitlines() if l.startswith("| nomic-full-F16 | 1 |") and "500" in l]
    assert row, md
    assert "500 (500)" in row[0] and "250 (125) (256)" in row[0] and "**2.00×** (4.00×)" in row[0]
    assert "bulk nomic-full-F16: 2.00× llama.cpp (ours-batch; CPU-time ratio 4.00×) — target ≥ 1.5×: met" in md


def test_query_percentiles_and_targets():
    md = bench_report.markdown(tiny_results())
    # ours walls 10, 11, 12, 30 ms: nearest-rank p50 = 11, p95 = 30; llama: 21 / 24
    assert "| nomic-full-F16 | 1 | 11.0 / 30.0 (10.0) | 21.0 / 24.0 (20.0) | **0.52** (0.50) | 4 / 4 |" in md
    assert "14-token query nomic-full-F16: 0.52× llama.cpp's p50" in md and "target ≤ 0.7: met" in md
    assert "2048-token text (embed()), nomic-full-F16: 20.0 MiB — target ≤ 24 MiB: met" in md
    assert "64 short texts (embed() per row), nomic-full-F16: 9.0 MiB — target ≤ 8 MiB: not met" in md
    assert "OPENBLAS_CORETYPE=Haswell" in md and "core type used: **SkylakeX**" in md


def test_thread_scaling_targets():
    res = tiny_results()
    # 2 threads: ours-batch medians 1.25 s wall (1000 tokens: 800 tok/s vs 500 at 1 thread: 1.60x),
    # 2.5 s CPU (400 tok/s of CPU: 1.25x the CPU per token); query p50 8 ms vs 11 ms at 1 thread
    for rep, w in enumerate([1.25, 1.2, 1.3]):
        res["bulk"].append({"model": "nomic-full-F16.lc.gguf", "threads": 2, "engine": "ours-batch",
                            "param": 0, "rep": rep, "wall": w, "cpu": 2 * w, "tokens": 1000})
    res["query"].append({"model": "nomic-full-F16.lc.gguf", "threads": 2, "engine": "ours", "rep": 0,
                         "tokens": 14, "wall": [0.008, 0.007, 0.009], "cpu": [0.012] * 3})
    md = bench_report.markdown(res)
    assert ("bulk nomic-full-F16, 2 threads vs 1 (embed_batch): 1.60× (CPU per token 1.25× of 1 thread's)"
            " — target ≥ 1.8×: not met") in md
    assert ("14-token query nomic-full-F16, 2 threads vs 1: p50 8.0 vs 11.0 ms (CPU 12.0 vs 10.0 ms)"
            " — not slower: met") in md


def test_splice_replaces_between_markers(tmp_path):
    doc = tmp_path / "b.md"
    doc.write_text("# Title\n\nintro\n")
    bench_report.splice(str(doc), "first body\n")
    bench_report.splice(str(doc), "second body\n")
    text = doc.read_text()
    assert text.count(bench_report.BEGIN) == 1 and "first body" not in text and "second body" in text
    assert text.startswith("# Title\n\nintro\n")


def test_report_cli_writes_markdown_and_plots(tmp_path):
    res = tmp_path / "r.json"
    res.write_text(json.dumps(tiny_results()))
    rc = bench_report.main([str(res), "--md", str(tmp_path / "r.md"), "--plots", str(tmp_path / "plots")])
    assert rc == 0 and "**2.00×**" in (tmp_path / "r.md").read_text()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return  # plots are optional (bench-only dependency)
    for name in ("throughput_vs_batch.png", "latency_vs_length.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_names_a_broken_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"meta": {}}')
    assert bench_report.main([str(bad)]) == 1
    assert "no 'config' section" in capsys.readouterr().err


def test_workloads_texts_have_the_promised_token_counts(extension_path):
    """n-token texts are n tokens in the extension's tokenizer (checked with
    embed_token_count on a fixture with the same vocabulary)."""
    model = FIXTURES / "models" / "tiny-nomic-F32.gguf"
    if not model.exists():
        pytest.skip(f"{model} not generated")
    texts = [workloads.text_of_tokens(n) for n in (8, 64, 300)] + [workloads.QUERY]
    sql = f".load {extension_path}\nINSERT INTO embed_models(name, path) VALUES ('m', '{model}');\n" + "".join(
        "SELECT embed_token_count('m', '" + t + "');\n" for t in texts)
    out = subprocess.run(["sqlite3", "-batch", "-bail", ":memory:"], input=sql, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert [int(x) for x in out.stdout.split()] == [8, 64, 300, 14]


@pytest.mark.skipif(not os.access("/usr/bin/python3", os.X_OK), reason="needs Debian's /usr/bin/python3")
def test_sql_driver_protocol(extension_path):
    model = FIXTURES / "models" / "tiny-nomic-F32.gguf"
    if not model.exists():
        pytest.skip(f"{model} not generated")
    texts = "\n".join(workloads.short_sentences(n=3)) + "\n"
    drv = str(REPO / "bench" / "sql_driver.py")
    probe = subprocess.run(["/usr/bin/python3", "-c", "import sqlite3; "
                            "sqlite3.connect(':memory:').enable_load_extension(True)"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("/usr/bin/python3's sqlite3 cannot load extensions")
    run = lambda *a: subprocess.run(["/usr/bin/python3", drv, str(extension_path), str(model), "1", *a],
                                    input=texts, capture_output=True, text=True)
    p = run("row", "2")
    assert p.returncode == 0, p.stderr
    ev = [json.loads(l) for l in p.stdout.splitlines()]
    assert ev[0]["event"] == "ready" and len(ev[0]["tokens"]) == 3
    passes = [e for e in ev if e["event"] == "pass"]
    assert len(passes) == 2 and all(e["tokens"] == sum(ev[0]["tokens"]) and e["wall"] > 0 for e in passes)
    p = run("query", "2")
    assert p.returncode == 0, p.stderr
    assert len([l for l in p.stdout.splitlines() if '"call"' in l]) == 6
    # info: embed_debug() (the benchmark records the OpenBLAS core type from it)
    p = run("info")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["event"] == "info" and isinstance(info["embed_batch"], bool)
    assert "\nthreads: 1 (engine pool; default " in info["debug"] and "\nblas coretype: " in info["debug"]
    p = run("nonsense")
    assert p.returncode == 2 and "unknown mode" in p.stderr


def test_several_result_files_are_concatenated(tmp_path):
    a, b = tiny_results(), tiny_results()
    for x in b["bulk"] + b["query"]:
        x["model"] = "nomic-full-Q8_0.lc.gguf"
    b["meta"]["note"] = "second process"
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    res = bench_report.load([str(pa), str(pb)])
    assert len(res["bulk"]) == len(a["bulk"]) * 2 and res["meta"]["note"] == "second process"
    md = bench_report.markdown(res)
    assert "| nomic-full-Q8_0 | 1 |" in md and "bulk nomic-full-Q8_0: 2.00× llama.cpp" in md
