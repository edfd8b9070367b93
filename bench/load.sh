#!/usr/bin/env bash
# Load harness: a release server on 127.0.0.1 with a fresh database and the
# example hook, seeded users, then wrk at 32 connections against each
# scenario for a bounded time. Prints a table and writes bench/results/.
#
#   bench/load.sh              # 10 s per scenario, SQLite
#   DURATION=30 bench/load.sh  # longer
#   DATABASE_URI=postgres://user@host:port/db bench/load.sh   # on PostgreSQL
#                              # (an empty database: the harness seeds it)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18437}
APP_ID=load-app
PASSWORD=load-password-1
export APP_ID PASSWORD

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

cargo build --release -q -p cloudcode-runtime --bin cloudcode
cargo build --release -q -p cloudcode-runtime --example bare_axum
cargo build --release -q -p hello-hook --target wasm32-wasip2

work=$(mktemp -d)
server= floor=
trap 'kill $server $floor 2>/dev/null || true; wait $server $floor 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/hooks"
cp target/wasm32-wasip2/release/hello_hook.wasm "$work/hooks/"

serve() {
  RUST_LOG=warn target/release/cloudcode serve --port "$PORT" --app-id "$APP_ID" \
    --data-dir "$work/data" --hooks-dir "$work/hooks" --hooks-cache-dir "$work/cache" \
    ${DATABASE_URI:+--database-uri "$DATABASE_URI"} \
    --login-free-failures 1000000 --login-max-failures-per-hour 1000000 --login-max-failures-per-ip 1000000 \
    > "$work/server.out" 2> "$work/server.err" &
  server=$!
}
wait_ready() {
  until curl -sf "http://127.0.0.1:$PORT/parse/health" >/dev/null; do
    kill -0 "$server" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
    sleep 0.005
  done
}
# A first start compiles the hooks into the cache; the measured one loads them.
serve
wait_ready
kill "$server"
wait "$server" 2>/dev/null || true
start_ms=$(date +%s%3N)
serve
wait_ready
ready_ms=$(date +%s%3N)
rss_start_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
base="http://127.0.0.1:$PORT/parse"

api() { curl -sf -X "$1" "$base$2" -H "X-Parse-Application-Id: $APP_ID" -H 'Content-Type: application/json' "${@:3}"; }
token=$(api POST /users -d "{\"username\":\"load-me\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessionToken"])')
for i in $(seq 0 $((CONNECTIONS - 1))); do
  api POST /users -d "{\"username\":\"cycle-$i\",\"password\":\"$PASSWORD\"}" >/dev/null
done
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")

run() { # name script [env...]
  local name=$1 script=$2 path=$3
  shift 3
  env "$@" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "bench/$script" "$base$path" > "$work/$name.txt"
  python3 - "$name" "$work/$name.txt" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"| {name} | {rps:,.0f} | {pct(50):.2f} | {pct(99):.2f} | {errors.group(1) if errors else 0} |")
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
echo "RSS idle at start (both built-in hooks and the example loaded): $((rss_start_kb / 1024)) MiB; after seeding $CONNECTIONS + 1 users: $((rss_kb / 1024)) MiB; after the load: $((rss_after_kb / 1024)) MiB"
echo "database: ${DATABASE_URI:-SQLite in a fresh data directory}" | sed -E 's#(://[^:@/]*):[^@]*@#\1@#'
echo "settings: $THREADS wrk threads, $CONNECTIONS connections, ${DURATION}s per scenario; argon2id m=19 MiB t=2 p=1"

mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).md"
{ cat "$results"; echo; echo "startup_ms=$((ready_ms - start_ms)) rss_start_kib=$rss_start_kb rss_seeded_kib=$rss_kb rss_after_kib=$rss_after_kb"; } > "$out"
echo "written to $out"
