#!/usr/bin/env bash
# sqlite-embed in a 3-node dqlite cluster on 127.0.0.1 (docs/cluster.md):
#
#   bash examples/dqlite-cluster/run.sh          (from the repository root)
#
#   1. installs the dependencies (tools/install-deps.sh; SKIP_DEPS=1 skips),
#      builds build/embed.so and build/embed-dqlite-node, converts the real
#      all-MiniLM-L6-v2 (tools/prepare_minilm.sh) when models/ lacks it;
#   2. starts three embed-dqlite-node processes on 127.0.0.1 (ports
#      BASE_PORT..BASE_PORT+2, default 29001) and forms the cluster;
#   3. creates a table (and a sqlite-vec vec0 index when vec0.so is found:
#      VEC0=/path/vec0.so, else the copy the Node tests install) and
#      bulk-embeds 30 of Aesop's fables (public domain) through the leader;
#   4. answers the same semantic queries from each node in turn (dqlite
#      serves queries on the leader only, so leadership is handed to each);
#   5. kills the leader (SIGKILL), shows the new leader, keeps writing with
#      embed() and searching.
# SQL goes through Debian's `dqlite` shell (go-dqlite); membership and
# leadership through dqlite/dqlite_wire.py. Every process started here is
# stopped by PID on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BASE_PORT=${BASE_PORT:-29001}
MODEL=${MODEL:-$ROOT/models/all-MiniLM-L6-v2.f16.gguf}
PY=${PYTHON:-python3}

if [ "${SKIP_DEPS:-0}" != 1 ]; then bash tools/install-deps.sh; fi
command -v dqlite >/dev/null || { echo "the dqlite shell is missing: apt-get install go-dqlite" >&2; exit 1; }
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBED_DQLITE=ON >/dev/null
cmake --build build -j"${JOBS:-2}" --target embed embed-dqlite-node
if [ ! -f "$MODEL" ]; then bash tools/prepare_minilm.sh; fi

VEC0=${VEC0:-}
if [ -z "$VEC0" ]; then
  for c in tests/node/node_modules/sqlite-vec-linux-x64/vec0.so \
           examples/node-semantic-search/node_modules/sqlite-vec-linux-x64/vec0.so; do
    if [ -f "$c" ]; then VEC0=$ROOT/$c; break; fi
  done
fi

WORK=$(mktemp -d /tmp/dqlite-cluster-example.XXXXXX)
declare -A PID ADDR
cleanup() {
  local rc=$?
  for i in "${!PID[@]}"; do kill -TERM "${PID[$i]}" 2>/dev/null || true; done
  for i in "${!PID[@]}"; do
    for _ in $(seq 50); do kill -0 "${PID[$i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PID[$i]}" 2>/dev/null || true
  done
  if [ $rc != 0 ]; then
    for f in "$WORK"/node*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

extensions=(--extension "$ROOT/build/embed.so")
if [ -n "$VEC0" ]; then extensions+=(--extension "$VEC0"); fi
for i in 1 2 3; do
  ADDR[$i]=127.0.0.1:$((BASE_PORT + i - 1))
  mkdir "$WORK/node$i"
  # Every node registers the model itself: the registry is per process and
  # is not replicated (docs/cluster.md).
  build/embed-dqlite-node --id "$i" --address "${ADDR[$i]}" --dir "$WORK/node$i" \
      "${extensions[@]}" --model "minilm=$MODEL" >"$WORK/node$i.log" 2>&1 &
  PID[$i]=$!
done
SERVERS="${ADDR[1]},${ADDR[2]},${ADDR[3]}"
wire() { timeout 90 "$PY" dqlite/dqlite_wire.py --servers "$SERVERS" "$@"; }
sql() { timeout 90 dqlite -s "$1" demo "$2"; }   # $1: node the shell dials

echo "== forming the cluster: node 1 bootstraps, 2 and 3 join as voters"
wire wait-leader >/dev/null
wire join 2 "${ADDR[2]}"
wire join 3 "${ADDR[3]}"
wire cluster

echo "== schema and bulk embedding through the leader"
sql "$SERVERS" "CREATE TABLE fables(id INTEGER PRIMARY KEY, title TEXT, moral TEXT, v BLOB)"
# Parameters, not SQL literals: the Go shell splits its argument on ';'.
fables_json=$("$PY" -c 'import json, sys
print(json.dumps([l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]))' \
  examples/dqlite-cluster/aesop.tsv)
wire exec demo "INSERT INTO fables(title, moral)
                SELECT json_extract(value, '\$[0]'), json_extract(value, '\$[1]') FROM json_each(?1) ORDER BY key" "$fables_json"
# embed() runs on the leader's event-loop thread, which also sends raft's
# heartbeats: a statement that embeds for longer than the election timeout
# (3 s by default) gets the leader deposed. Five texts per statement.
n=$(sql "$SERVERS" "SELECT count(*) FROM fables")
if [ "$(sql "$SERVERS" "SELECT count(*) FROM pragma_module_list WHERE name = 'embed_batch'")" = 1 ]; then
  echo "(embed_batch: each chunk of morals in one batched forward pass)"
  for ((lo = 1; lo <= n; lo += 5)); do
    sql "$SERVERS" "UPDATE fables SET v = b.vector FROM embed_batch('minilm',
        (SELECT json_group_array(moral) FROM (SELECT moral FROM fables WHERE id BETWEEN $lo AND $((lo + 4)) ORDER BY id))) AS b
        WHERE fables.id = $lo + b.i"
  done
else
  for ((lo = 1; lo <= n; lo += 5)); do
    sql "$SERVERS" "UPDATE fables SET v = embed('minilm', moral) WHERE id BETWEEN $lo AND $((lo + 4))"
  done
fi
sql "$SERVERS" "SELECT count(*) || ' fables, ' || (min(length(v)) / 4) || '-float vectors' FROM fables"
if [ -n "$VEC0" ]; then
  echo "(sqlite-vec $VEC0 is an auto-extension too: vec0 index)"
  sql "$SERVERS" "CREATE VIRTUAL TABLE fables_vec USING vec0(embedding float[384])"
  sql "$SERVERS" "INSERT INTO fables_vec(rowid, embedding) SELECT id, v FROM fables"
else
  echo "(no vec0.so found: set VEC0=/path/vec0.so, e.g. from npm sqlite-vec, for a vec0 index)"
fi

search() {   # $1: node to ask, $2: query
  sql "$1" "SELECT round(embed_similarity(v, embed('minilm', '$2')), 3) || '  ' || title
              FROM fables ORDER BY 1 DESC LIMIT 2"
}
QUERIES=("saving food in summer for the winter"
         "nobody believes someone who keeps lying"
         "a tiny animal rescues a big one")
for i in 1 2 3; do
  wire transfer "$i"
  echo "== node $i is the leader: its replica answers"
  for q in "${QUERIES[@]}"; do echo "-- $q"; search "${ADDR[$i]}" "$q"; done
  if [ -n "$VEC0" ]; then
    echo "-- vec0 k=2: flattery"
    sql "${ADDR[$i]}" "SELECT round(distance, 3) || '  ' || f.title FROM fables_vec v JOIN fables f ON f.id = v.rowid
                        WHERE embedding MATCH embed('minilm', 'flattery') AND k = 2 ORDER BY distance"
  fi
  echo "-- $(wire digest demo "SELECT id, title, moral, v FROM fables ORDER BY id")"
done

read -r LEADER_ID LEADER_ADDR < <(wire leader)
echo "== killing the leader, node $LEADER_ID (pid ${PID[$LEADER_ID]}), with SIGKILL"
kill -KILL "${PID[$LEADER_ID]}"
wait "${PID[$LEADER_ID]}" 2>/dev/null || true
unset "PID[$LEADER_ID]"
start=$(date +%s%N)
read -r NEW_ID NEW_ADDR < <(wire wait-leader --not "$LEADER_ADDR" --timeout 60)
echo "node $NEW_ID ($NEW_ADDR) elected after $(( ($(date +%s%N) - start) / 1000000 )) ms"
SURVIVORS=$NEW_ADDR
for i in 1 2 3; do [ "$i" != "$LEADER_ID" ] && [ "$i" != "$NEW_ID" ] && SURVIVORS+=",${ADDR[$i]}"; done

echo "== writing on the new leader: embed() runs there, with its own model"
MORAL="A storm at sea made the sailors promise everything, and in the calm they forgot their vows."
timeout 90 "$PY" dqlite/dqlite_wire.py --servers "$SURVIVORS" exec demo \
  "INSERT INTO fables(title, moral, v) VALUES (?1, ?2, embed('minilm', ?2))" "The Sailors' Vows" "$MORAL"
if [ -n "$VEC0" ]; then
  sql "$SURVIVORS" "INSERT INTO fables_vec(rowid, embedding) SELECT id, v FROM fables WHERE id = (SELECT max(id) FROM fables)"
fi
sql "$SURVIVORS" "SELECT count(*) || ' fables on the new leader' FROM fables"
echo "-- promises made in danger are forgotten"
search "$SURVIVORS" "promises made in danger are forgotten"
echo "done: the cluster survived the loss of its leader"
