#!/usr/bin/env python3
"""A small dqlite client (Python standard library only) for the cluster
example and test: leader discovery, membership (add, assign, transfer) and
SQL (exec, query) over dqlite's wire protocol, version 1
(https://canonical.com/dqlite/docs/reference/wire-protocol).

The Go shell from Debian's go-dqlite (`dqlite -s ADDRS DB "SQL"`) covers
SQL but not membership or leadership transfer, and it always talks to the
leader; this module can address one node on purpose, which the test needs
to show that every node's replica holds the same bytes.

Command line (every command finds the leader through --servers):
    dqlite_wire.py --servers A,B,C leader
    dqlite_wire.py --servers A,B,C cluster
    dqlite_wire.py --servers A,B,C join ID ADDRESS     (add as a voter)
    dqlite_wire.py --servers A,B,C transfer ID         (hand leadership to ID, wait)
    dqlite_wire.py --servers A,B,C wait-leader [--not ADDRESS] [--timeout S]
    dqlite_wire.py --servers A,B,C digest DB SQL       (SHA-256 of the leader's rows)
    dqlite_wire.py --servers A,B,C exec DB SQL [TEXT...] (TEXTs bound to ?1, ?2, ...)
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import struct
import sys
import time

PROTOCOL_VERSION = 1

# Request types
REQ_LEADER, REQ_CLIENT, REQ_OPEN = 0, 1, 3
REQ_EXEC_SQL, REQ_QUERY_SQL = 8, 9
REQ_ADD, REQ_ASSIGN, REQ_REMOVE, REQ_CLUSTER, REQ_TRANSFER = 12, 13, 14, 16, 17

# Response types
RES_FAILURE, RES_NODE, RES_WELCOME, RES_NODES, RES_DB = 0, 1, 2, 3, 4
RES_RESULT, RES_ROWS, RES_EMPTY = 6, 7, 8

# Value types
T_INTEGER, T_FLOAT, T_TEXT, T_BLOB, T_NULL = 1, 2, 3, 4, 5
T_UNIXTIME, T_ISO8601, T_BOOLEAN = 9, 10, 11

ROWS_PART = 0xEEEEEEEEEEEEEEEE
ROWS_DONE = 0xFFFFFFFFFFFFFFFF

ROLES = {0: "voter", 1: "standby", 2: "spare"}
VOTER = 0


class DqliteError(Exception):
    """A FAILURE response (code, message) or a protocol violation."""

    def __init__(self, code: int, message: str):
        super().__init__(f"dqlite error {code}: {message}")
        self.code = code
        self.message = message


def _pad8(n: int) -> int:
    return (8 - n % 8) % 8


def _text(s: str) -> bytes:
    raw = s.encode("utf-8") + b"\0"
    return raw + b"\0" * _pad8(len(raw))


def _params(values: tuple) -> bytes:
    """Schema-0 parameter tuple: count, one type byte each, padding, values."""
    if not values:
        return b""
    if len(values) > 255:
        raise ValueError("at most 255 parameters")
    types = bytearray([len(values)])
    data = bytearray()
    for v in values:
        if v is None:
            types.append(T_NULL)
            data += struct.pack("<q", 0)
        elif isinstance(v, bool):
            types.append(T_BOOLEAN)
            data += struct.pack("<Q", int(v))
        elif isinstance(v, int):
            types.append(T_INTEGER)
            data += struct.pack("<q", v)
        elif isinstance(v, float):
            types.append(T_FLOAT)
            data += struct.pack("<d", v)
        elif isinstance(v, str):
            types.append(T_TEXT)
            data += _text(v)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            types.append(T_BLOB)
            data += struct.pack("<Q", len(b)) + b + b"\0" * _pad8(len(b))
        else:
            raise TypeError(f"unsupported parameter type {type(v).__name__}")
    types += b"\0" * _pad8(len(types))
    return bytes(types + data)


class _Reader:
    """Cursor over one response body."""

    def __init__(self, body: bytes):
        self.b = body
        self.off = 0

    def need(self, n: int) -> None:
        if self.off + n > len(self.b):
            raise DqliteError(-1, f"short response: need {n} bytes at {self.off} of {len(self.b)}")

    def u64(self) -> int:
        self.need(8)
        (v,) = struct.unpack_from("<Q", self.b, self.off)
        self.off += 8
        return v

    def i64(self) -> int:
        self.need(8)
        (v,) = struct.unpack_from("<q", self.b, self.off)
        self.off += 8
        return v

    def f64(self) -> float:
        self.need(8)
        (v,) = struct.unpack_from("<d", self.b, self.off)
        self.off += 8
        return v

    def u32(self) -> int:
        self.need(4)
        (v,) = struct.unpack_from("<I", self.b, self.off)
        self.off += 4
        return v

    def text(self) -> str:
        end = self.b.find(b"\0", self.off)
        if end < 0:
            raise DqliteError(-1, "unterminated string in response")
        s = self.b[self.off:end].decode("utf-8")
        n = end + 1 - self.off
        self.off += n + _pad8(n)
        return s

    def blob(self) -> bytes:
        n = self.u64()
        self.need(n)
        v = self.b[self.off:self.off + n]
        self.off += n + _pad8(n)
        return v

    def peek_u64(self) -> int:
        self.need(8)
        return struct.unpack_from("<Q", self.b, self.off)[0]


class Connection:
    """One TCP connection to one node (not necessarily the leader)."""

    def __init__(self, address: str, timeout: float = 10.0):
        host, port = address.rsplit(":", 1)
        self.address = address
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.sendall(struct.pack("<Q", PROTOCOL_VERSION))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise DqliteError(-1, f"{self.address} closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, mtype: int, body: bytes) -> None:
        assert len(body) % 8 == 0 and body
        self.sock.sendall(struct.pack("<IBBH", len(body) // 8, mtype, 0, 0) + body)

    def _recv(self) -> tuple[int, _Reader]:
        words, mtype, _schema, _extra = struct.unpack("<IBBH", self._recv_exact(8))
        r = _Reader(self._recv_exact(words * 8))
        if mtype == RES_FAILURE:
            code = r.u64()
            raise DqliteError(code, r.text())
        return mtype, r

    def _call(self, mtype: int, body: bytes, expect: int) -> _Reader:
        self._send(mtype, body)
        got, r = self._recv()
        if got != expect:
            raise DqliteError(-1, f"response type {got} to request {mtype}, expected {expect}")
        return r

    # --- cluster ---------------------------------------------------------
    def leader(self) -> tuple[int, str]:
        """(id, address) of the leader this node knows; (0, '') if none."""
        r = self._call(REQ_LEADER, struct.pack("<Q", 0), RES_NODE)
        return r.u64(), r.text()

    def cluster(self) -> list[tuple[int, str, str]]:
        r = self._call(REQ_CLUSTER, struct.pack("<Q", 1), RES_NODES)
        return [(r.u64(), r.text(), ROLES.get(r.u64(), "?")) for _ in range(r.u64())]

    def add(self, node_id: int, address: str) -> None:
        self._call(REQ_ADD, struct.pack("<Q", node_id) + _text(address), RES_EMPTY)

    def assign(self, node_id: int, role: int) -> None:
        self._call(REQ_ASSIGN, struct.pack("<QQ", node_id, role), RES_EMPTY)

    def transfer(self, node_id: int) -> None:
        self._call(REQ_TRANSFER, struct.pack("<Q", node_id), RES_EMPTY)

    # --- SQL -------------------------------------------------------------
    def open(self, name: str) -> int:
        r = self._call(REQ_OPEN, _text(name) + struct.pack("<Q", 0) + _text("volatile"), RES_DB)
        return r.u32()

    def exec(self, db: int, sql: str, *params) -> tuple[int, int]:
        """Runs every statement in sql; returns (last_insert_id, changes)."""
        r = self._call(REQ_EXEC_SQL, struct.pack("<Q", db) + _text(sql) + _params(params), RES_RESULT)
        return r.u64(), r.u64()

    def query(self, db: int, sql: str, *params) -> tuple[list[str], list[tuple]]:
        self._send(REQ_QUERY_SQL, struct.pack("<Q", db) + _text(sql) + _params(params))
        rows: list[tuple] = []
        while True:
            got, r = self._recv()
            if got != RES_ROWS:
                raise DqliteError(-1, f"response type {got} to a query, expected rows")
            columns = [r.text() for _ in range(r.u64())]
            marker = self._read_rows(r, len(columns), rows)
            if marker == ROWS_DONE:
                return columns, rows

    @staticmethod
    def _read_rows(r: _Reader, ncols: int, rows: list[tuple]) -> int:
        header_words = (ncols * 4 + 63) // 64
        while True:
            word = r.peek_u64()
            if word in (ROWS_DONE, ROWS_PART):
                r.u64()
                return word
            r.need(header_words * 8)
            header = r.b[r.off:r.off + header_words * 8]
            r.off += header_words * 8
            row = []
            for i in range(ncols):
                t = (header[i // 2] >> (4 * (i % 2))) & 0x0F
                if t == T_INTEGER or t == T_UNIXTIME:
                    row.append(r.i64())
                elif t == T_FLOAT:
                    row.append(r.f64())
                elif t == T_TEXT or t == T_ISO8601:
                    row.append(r.text())
                elif t == T_BLOB:
                    row.append(r.blob())
                elif t == T_NULL:
                    r.u64()
                    row.append(None)
                elif t == T_BOOLEAN:
                    row.append(r.i64() != 0)
                else:
                    raise DqliteError(-1, f"unknown column type {t}")
            rows.append(tuple(row))


def find_leader(servers: list[str], timeout: float = 30.0, exclude: str | None = None) -> tuple[int, str]:
    """Asks each server who leads until one names a leader (other than
    exclude) that answers as leader itself; retries until timeout."""
    deadline = time.monotonic() + timeout
    last = "no server answered"
    while time.monotonic() < deadline:
        for address in servers:
            try:
                with Connection(address, timeout=2.0) as c:
                    node_id, leader = c.leader()
                if not leader or leader == exclude:
                    last = f"{address}: no leader yet"
                    continue
                with Connection(leader, timeout=2.0) as c:
                    if c.leader()[1] == leader:
                        return node_id, leader
            except (OSError, DqliteError) as e:
                last = f"{address}: {e}"
        time.sleep(0.2)
    raise TimeoutError(f"no leader within {timeout} s ({last})")


def join(servers: list[str], node_id: int, address: str, timeout: float = 30.0) -> None:
    """Adds node_id at address to the cluster and makes it a voter."""
    _, leader = find_leader(servers, timeout)
    with Connection(leader) as c:
        if not any(n[0] == node_id for n in c.cluster()):
            c.add(node_id, address)
        c.assign(node_id, VOTER)


def make_leader(servers: list[str], node_id: int, timeout: float = 60.0) -> str:
    """Hands leadership to node_id (nothing to do if it leads already) and
    waits until it answers as leader. Retries the transfer, which Raft
    refuses while the target is still catching up. Returns its address."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            _, leader = find_leader(servers, max(1.0, deadline - time.monotonic()))
            with Connection(leader) as c:
                members = {i: a for i, a, _ in c.cluster()}
                if node_id not in members:
                    raise DqliteError(-1, f"node {node_id} is not a member")
                if members[node_id] != leader:
                    c.transfer(node_id)
            for _ in range(50):
                with Connection(members[node_id], timeout=2.0) as c:
                    if c.leader()[1] == members[node_id]:
                        return members[node_id]
                time.sleep(0.1)
            last = "the transfer did not complete"
        except (OSError, DqliteError) as e:
            if isinstance(e, DqliteError) and "not a member" in e.message:
                raise
            last = str(e)
            time.sleep(0.2)
    raise TimeoutError(f"node {node_id} did not become leader within {timeout} s ({last})")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", required=True, help="comma-separated host:port list")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("leader")
    sub.add_parser("cluster")
    j = sub.add_parser("join")
    j.add_argument("id", type=int)
    j.add_argument("address")
    t = sub.add_parser("transfer")
    t.add_argument("id", type=int)
    w = sub.add_parser("wait-leader")
    w.add_argument("--not", dest="exclude")
    w.add_argument("--timeout", type=float, default=30.0)
    e = sub.add_parser("exec")
    e.add_argument("db")
    e.add_argument("sql")
    e.add_argument("params", nargs="*")
    d = sub.add_parser("digest")
    d.add_argument("db")
    d.add_argument("sql")
    args = ap.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    try:
        if args.cmd in ("leader", "wait-leader"):
            node_id, leader = find_leader(servers, getattr(args, "timeout", 30.0), getattr(args, "exclude", None))
            print(node_id, leader)
        elif args.cmd == "cluster":
            _, leader = find_leader(servers)
            with Connection(leader) as c:
                for node_id, address, role in c.cluster():
                    print(node_id, address, role, "leader" if address == leader else "")
        elif args.cmd == "join":
            join(servers, args.id, args.address)
        elif args.cmd == "exec":
            _, leader = find_leader(servers)
            with Connection(leader, timeout=300) as c:
                _, changes = c.exec(c.open(args.db), args.sql, *args.params)
            print(f"{changes} rows changed")
        elif args.cmd == "digest":
            node_id, leader = find_leader(servers)
            with Connection(leader) as c:
                _, rows = c.query(c.open(args.db), args.sql)
            h = hashlib.sha256()
            for row in rows:
                for v in row:
                    raw = v if isinstance(v, bytes) else repr(v).encode("utf-8")
                    h.update(len(raw).to_bytes(8, "little") + raw)
            print(f"node {node_id} ({leader}): {len(rows)} rows, SHA-256 {h.hexdigest()[:16]}")
        elif args.cmd == "transfer":
            make_leader(servers, args.id)
    except (OSError, DqliteError, TimeoutError) as e:
        print(f"dqlite_wire: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
