#!/usr/bin/env bash
# GET /users/me on Parse Server 9.10 and on cloudcode, both on PostgreSQL, on
# this machine in one run: rounds alternate between the two so that noise
# hits both alike. Prints each round and the medians' ratio.
#
#   PARSE_DATABASE_URI=postgres://user@host:port/parse \
#   DATABASE_URI=postgres://user@host:port/cloudcode bench/parse-server.sh
#
# Two empty databases. Parse Server is installed from npm on first use into
# $PARSE_DIR and runs with one worker per core (its --cluster), its best here.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${PARSE_DATABASE_URI:?an empty PostgreSQL database for Parse Server}"
: "${DATABASE_URI:?an empty PostgreSQL database for cloudcode}"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
PARSE_DIR=${PARSE_DIR:-$HOME/.cache/cloudcode-bench/parse-server-9.10.0}
PARSE_PORT=${PARSE_PORT:-18440}
PORT=${PORT:-18441}
APP_ID=bench-app
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

if [ ! -x "$PARSE_DIR/node_modules/.bin/parse-server" ]; then
  mkdir -p "$PARSE_DIR"
  (cd "$PARSE_DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund parse-server@9.10.0 >/dev/null)
fi
PARSE_DIR=$(cd "$PARSE_DIR" && pwd)
cargo build --release -q -p cloudcode-runtime --bin cloudcode

work=$(mktemp -d)
parse= cloudcode=
trap 'kill $parse $cloudcode 2>/dev/null || true; wait $parse $cloudcode 2>/dev/null || true; rm -rf "$work"' EXIT
# From the run's directory: Parse Server writes ./logs whatever --logsFolder says.
(cd "$work" && NODE_ENV=production exec "$PARSE_DIR/node_modules/.bin/parse-server" \
  --appId "$APP_ID" --masterKey "bench-master-key-$RANDOM$RANDOM" \
  --databaseURI "$PARSE_DATABASE_URI" --port "$PARSE_PORT" --mountPath /parse \
  --serverURL "http://127.0.0.1:$PARSE_PORT/parse" --cluster "$(nproc)" \
  > "$work/parse.log" 2>&1) &
parse=$!
RUST_LOG=warn target/release/cloudcode serve --port "$PORT" --app-id "$APP_ID" \
  --data-dir "$work/data" --database-uri "$DATABASE_URI" > "$work/cloudcode.log" 2>&1 &
cloudcode=$!
for port in "$PARSE_PORT" "$PORT"; do
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/parse/health" >/dev/null && break
    sleep 0.1
  done
done

token() { # port: a new user's session token
  curl -sf -X POST "http://127.0.0.1:$1/parse/users" -H "X-Parse-Application-Id: $APP_ID" \
    -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench-$RANDOM$RANDOM\",\"password\":\"bench-password-1\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["sessionToken"])'
}
parse_token=$(token "$PARSE_PORT")
cloudcode_token=$(token "$PORT")

for round in $(seq "$ROUNDS"); do
  for server in parse cloudcode; do
    if [ "$server" = parse ]; then port=$PARSE_PORT tok=$parse_token; else port=$PORT tok=$cloudcode_token; fi
    TOKEN=$tok APP_ID=$APP_ID wrk -t2 -c32 -d"${DURATION}s" --latency -s bench/me.lua \
      "http://127.0.0.1:$port/parse/users/me" > "$work/$server.$round.txt"
  done
done
python3 - "$work" "$ROUNDS" <<'PY'
import re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def figures(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, p99, int(errors.group(1)) if errors else 0
medians = {}
print("| server | round | req/s | p99 ms | non-2xx |\n|---|---|---|---|---|")
for server in ("parse", "cloudcode"):
    runs = [figures(f"{work}/{server}.{r}.txt") for r in range(1, rounds + 1)]
    for r, (rps, p99, errors) in enumerate(runs, 1):
        print(f"| {server} | {r} | {rps:,.0f} | {p99:.1f} | {errors} |")
    medians[server] = statistics.median(r[0] for r in runs)
print(f"\nmedian req/s: Parse Server {medians['parse']:,.0f}, cloudcode {medians['cloudcode']:,.0f}: "
      f"{medians['cloudcode'] / medians['parse']:.1f}x")
PY
