#!/usr/bin/env bash
# Load harness: a release server on 127.0.0.1 with a fresh database and the
# example hook, seeded users, then wrk at 32 connections against each
# scenario for a bounded time. Prints a table and writes bench/results/.
#
#   bench/load.sh              # 10 s per scenario, SQLite
#   DURATION=30 bench/load.sh  # longer
#   DATABASE_URI=postgres://user@host:port/db bench/load.sh   # on PostgreSQL
#                              # (an empty database: the harness seeds it)
#   NODES=2 DATABASE_URI=... bench/load.sh   # two nodes on that database, each
#                              # driven by half the connections at once
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18437}
APP_ID=load-app
PASSWORD=load-password-1
NODES=${NODES:-1}
export APP_ID PASSWORD
[ "$NODES" = 1 ] || [ "$NODES" = 2 ] || { echo "NODES is 1 or 2" >&2; exit 1; }
[ "$NODES" = 1 ] || [ -n "${DATABASE_URI:-}" ] || { echo "NODES=2 needs DATABASE_URI" >&2; exit 1; }

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

cargo build --release -q -p cloudcode-runtime --bin cloudcode
cargo build --release -q -p cloudcode-runtime --example bare_axum
cargo build --release -q -p hello-hook --target wasm32-wasip2

work=$(mktemp -d)
server= second= floor=
trap 'kill $server $second $floor 2>/dev/null || true; wait $server $second $floor 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/hooks"
cp target/wasm32-wasip2/release/hello_hook.wasm "$work/hooks/"

node() { # port name: a node, in the background
  RUST_LOG=warn target/release/cloudcode serve --port "$1" --app-id "$APP_ID" \
    --data-dir "$work/$2" --hooks-dir "$work/hooks" --hooks-cache-dir "$work/$2-cache" \
    ${DATABASE_URI:+--database-uri "$DATABASE_URI"} \
    --login-free-failures 1000000 --login-max-failures-per-hour 1000000 --login-max-failures-per-ip 1000000 \
    > "$work/$2.out" 2> "$work/$2.err" &
}
serve() {
  node "$PORT" data
  server=$!
}
wait_ready() { # [port pid name]
  local port=${1:-$PORT} pid=${2:-$server} name=${3:-data}
  until curl -sf "http://127.0.0.1:$port/parse/health" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/$name.err" >&2; exit 1; }
    sleep 0.005
  done
}
# A first start compiles the hooks into the cache; the measured one loads them.
serve
wait_ready
sleep 1 # idle: what the server keeps once compilation is over
rss_first_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
kill "$server"
wait "$server" 2>/dev/null || true
start_ms=$(date +%s%3N)
serve
wait_ready
ready_ms=$(date +%s%3N)
rss_start_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
base="http://127.0.0.1:$PORT/parse"
SECOND_PORT=$((PORT + 2))
if [ "$NODES" = 2 ]; then
  node "$SECOND_PORT" second
  second=$!
  wait_ready "$SECOND_PORT" "$second" second
fi

api() { curl -sf -X "$1" "$base$2" -H "X-Parse-Application-Id: $APP_ID" -H 'Content-Type: application/json' "${@:3}"; }
token=$(api POST /users -d "{\"username\":\"load-me\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessionToken"])')
for i in $(seq 0 $((CONNECTIONS - 1))); do
  api POST /users -d "{\"username\":\"cycle-$i\",\"password\":\"$PASSWORD\"}" >/dev/null
done
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")

run() { # name script path [env...]: wrk on every node at once, figures summed
  local name=$1 script=$2 path=$3
  shift 3
  local nodes=$NODES
  [ "$name" = bare_axum_health ] && nodes=1
  local connections=$((CONNECTIONS / nodes)) threads=$((THREADS / nodes < 1 ? 1 : THREADS / nodes))
  local i pids=() urls=("$base")
  [ "$nodes" = 2 ] && urls+=("http://127.0.0.1:$SECOND_PORT/parse")
  for i in "${!urls[@]}"; do
    # USER_OFFSET: the second node's wrk threads take other seeded users.
    env "$@" USER_OFFSET=$((i * threads)) wrk -t"$threads" -c"$connections" -d"${DURATION}s" --latency \
      -s "bench/$script" "${urls[$i]}$path" > "$work/$name.$i.txt" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 - "$name" "$work/$name".*.txt <<'PY'
import re, sys
name, paths = sys.argv[1], sys.argv[2:]
def figures(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, pct(50), pct(99), int(errors.group(1)) if errors else 0
runs = [figures(open(p).read()) for p in paths]
# Several nodes: throughput summed, latencies the worst node's.
rps = sum(r[0] for r in runs)
p50, p99 = max(r[1] for r in runs), max(r[2] for r in runs)
print(f"| {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {sum(r[3] for r in runs)} |")
PY
}

# The machine's floor: a bare axum handler, measured in the same run.
FLOOR_PORT=$((PORT + 1))
target/release/examples/bare_axum "$FLOOR_PORT" &
floor=$!
until curl -sf "http://127.0.0.1:$FLOOR_PORT/health" >/dev/null; do sleep 0.005; done

results=$(mktemp)
{
  echo "| scenario | req/s | p50 ms | p99 ms | non-2xx |"
  echo "|---|---|---|---|---|"
  base="http://127.0.0.1:$FLOOR_PORT" run bare_axum_health health.lua /health
  kill "$floor"; wait "$floor" 2>/dev/null || true; floor=
  run health health.lua /health
  run users_me me.lua /users/me TOKEN="$token"
  run functions_hello hello.lua /functions/hello
  run login login.lua /login USERNAME=load-me
  run login_x3_logout_all cycle.lua /login USER_PREFIX=cycle- USERS="$CONNECTIONS"
} | tee "$results"

rss_after_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
echo
echo "start-up to first served request: $((ready_ms - start_ms)) ms (hooks compiled on first start, then cached)"
echo "RSS idle after a first start (hooks compiled): $((rss_first_kb / 1024)) MiB; at a later start (both built-in hooks and the example loaded from the cache): $((rss_start_kb / 1024)) MiB; after seeding $CONNECTIONS + 1 users: $((rss_kb / 1024)) MiB; after the load: $((rss_after_kb / 1024)) MiB"
echo "database: ${DATABASE_URI:-SQLite in a fresh data directory}" | sed -E 's#(://[^:@/]*):[^@]*@#\1@#'
echo "nodes: $NODES (each scenario drives every node at once with its share of the connections)"
echo "settings: $THREADS wrk threads, $CONNECTIONS connections, ${DURATION}s per scenario; argon2id m=19 MiB t=2 p=1"

mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).md"
{ cat "$results"; echo; echo "startup_ms=$((ready_ms - start_ms)) rss_first_start_kib=$rss_first_kb rss_start_kib=$rss_start_kb rss_seeded_kib=$rss_kb rss_after_kib=$rss_after_kb"; } > "$out"
echo "written to $out"
