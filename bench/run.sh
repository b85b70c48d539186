#!/usr/bin/env bash
# gantry benchmark (issue 5): wrk on loopback against a release build.
#
#   bench/run.sh                 # full run: 1,000,000 tokens stored, 100,000 in rotation
#   TOKENS=200000 bench/run.sh   # smaller store, same table
#   ROUNDS=10 DURATION=3s bench/run.sh  # fewer, longer rounds (default: 25 rounds of 1 s)
#   KEEP=results.txt bench/run.sh        # also keep every round's raw numbers
#   GANTRY_BIN=/tmp/old/gantry SEED_BIN=/tmp/old/gantry-bench-seed bench/run.sh  # another build, unbuilt
#
# Prints one table; every ratio is against /healthz measured in the same run. Both servers (1M
# and 1k tokens stored) run side by side, and the rows are measured in ROUNDS interleaved
# rounds (healthz, then each row, DURATION each), so a slow spell of the machine lands on the
# floor and the rows alike. Each ratio is the median of its per-round ratios, with the spread
# (lowest–highest) beside it; req/s, p50 and p99 are medians over the rounds. Token creation
# runs once, for CREATE_DURATION (5 s), before the rounds. Needs wrk
# (Debian package `wrk`; installed here if missing) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${TOKENS:-1000000}
SAMPLE=${SAMPLE:-100000}
SMALL=1000
DURATION=${DURATION:-1s}
ROUNDS=${ROUNDS:-25}
CREATE_DURATION=${CREATE_DURATION:-5s}
CONNS=${CONNS:-64}
WORK=$(mktemp -d /tmp/gantry-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] && cp "$WORK/results" "$KEEP"; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
echo "building release binaries…" >&2
# GANTRY_BIN / SEED_BIN: measure other builds (e.g. the commit before a change) as they are.
[ -n "${GANTRY_BIN:-}" ] || cargo build --release --quiet -p gantry -p gantry-bench-seed
GANTRY=${GANTRY_BIN:-target/release/gantry}
SEED=${SEED_BIN:-target/release/gantry-bench-seed}
PASSWORD="benchmark password 1"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start DATA_DIR -> sets PID, URL, STARTUP_MS (spawn to first verified request)
start() {
  local dir=$1 token=$2 p
  p=$(port)
  URL="http://127.0.0.1:$p"
  local t0; t0=$(date +%s%N)
  GANTRY_LOG=warn $GANTRY serve --listen "127.0.0.1:$p" --data-dir "$dir" >"$dir.log" 2>&1 &
  PID=$!
  until curl -sf -o /dev/null -H "Authorization: Bearer $token" "$URL/v1/apps/web"; do sleep 0.01; done
  STARTUP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; }

login() {
  curl -sf -X POST "$URL/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])'
}

# run "ROUND NAME" ARGS… -> appends "ROUND NAME rps p50_ms p99_ms" to $WORK/results
run() {
  local name=$1; shift
  echo "  $name…" >&2
  wrk --latency -t1 -c"$CONNS" -d"$DURATION" "$@" >"$WORK/wrk.out" 2>&1
  python3 - "$name" "$WORK/wrk.out" >>"$WORK/results" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def ms(v, unit):
    v = float(v)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = {m.group(1): ms(m.group(2), m.group(3)) for m in re.finditer(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text)}
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
if non2xx:
    sys.stderr.write(f"WARNING: {name}: {non2xx.group(1)} non-2xx responses\n")
print(name, rps, lat.get("50", 0), lat.get("99", 0))
PY
}

: >"$WORK/results"
declare -A URLS PIDS
for STORED in "$N" "$SMALL"; do
  DIR="$WORK/data-$STORED"
  ROT=$(( STORED < SAMPLE ? STORED : SAMPLE ))
  echo "seeding $STORED tokens…" >&2
  s0=$(date +%s)
  $SEED "$DIR" "$STORED" "$ROT" "$WORK/tokens-$STORED.txt" >/dev/null
  echo "  seeded in $(( $(date +%s) - s0 ))s" >&2
done
for STORED in "$N" "$SMALL"; do
  FIRST=$(head -1 "$WORK/tokens-$STORED.txt")
  start "$WORK/data-$STORED" "$FIRST"
  echo "$STARTUP_MS" >"$WORK/startup-$STORED"
  URLS[$STORED]=$URL
  PIDS[$STORED]=$PID
done
URL=${URLS[$N]}
ADMIN=$(login)
for STORED in "$N" "$SMALL"; do
  ROT=$(( STORED < SAMPLE ? STORED : SAMPLE ))
  # Warm each node (the targets are for a warm node): every token in rotation is used at
  # least once — cold lookups run at ~10,000/s, so allow a second per 5,000 tokens plus
  # slack — and the first-use last-used writes that follow are given time to land.
  echo "warming up the $STORED-token node…" >&2
  TOKENS="$WORK/tokens-$STORED.txt" wrk -t1 -c"$CONNS" -d"${WARMUP:-$(( ROT / 5000 + 5 ))s}" -s bench/lua/rotate.lua "${URLS[$STORED]}/v1/apps/web" >/dev/null 2>&1
done
# The warm-up's first uses are written 10,000 a second (last_used MAX_BATCH): let them land.
sleep $(( SAMPLE / 10000 + 5 ))
# Token creation first, on the quiet node: the rounds below keep 100,000 tokens' last-used
# writes coming due every minute, and each of those batches holds SQLite's write lock.
DURATION=$CREATE_DURATION CONNS=16 CALLER="$ADMIN" run "1 create" -s bench/lua/create.lua "$URL/v1/apps/web/tokens"

BIG="$WORK/tokens-$N.txt"
for ROUND in $(seq "$ROUNDS"); do
  echo "round $ROUND of $ROUNDS…" >&2
  # The floor pays the same client-side cost as the other rows: same script, same header.
  TOKENS="$BIG" run "$ROUND healthz" -s bench/lua/rotate.lua "$URL/healthz"
  TOKENS="$BIG" run "$ROUND app_get_$N" -s bench/lua/rotate.lua "$URL/v1/apps/web"
  TOKENS="$BIG" run "$ROUND auth_check" -s bench/lua/rotate.lua "$URL/v1/auth/check?app=web&capability=deploy"
  TOKENS="$BIG" MODE=introspect CALLER="$ADMIN" run "$ROUND introspect" -s bench/lua/rotate.lua "$URL/v1/oauth/introspect"
  TOKENS="$WORK/tokens-$SMALL.txt" run "$ROUND app_get_$SMALL" -s bench/lua/rotate.lua "${URLS[$SMALL]}/v1/apps/web"
done
grep VmRSS /proc/"${PIDS[$N]}"/status | awk '{print $2}' >"$WORK/rss-kb"
for STORED in "$N" "$SMALL"; do
  PID=${PIDS[$STORED]}
  stop
done

python3 - "$WORK" "$N" "$SAMPLE" "$SMALL" "$DURATION" "$CONNS" "$ROUNDS" <<'PY'
import statistics, sys
from collections import defaultdict
work, n, sample, small, duration, conns, rounds = sys.argv[1:]
runs = defaultdict(dict)  # name -> round -> (rps, p50, p99)
for line in open(f"{work}/results"):
    rnd, name, rps, p50, p99 = line.split()
    runs[name][int(rnd)] = (float(rps), float(p50), float(p99))
med = lambda xs: statistics.median(xs)
def column(name, i):
    return [v[i] for v in runs[name].values()]
def ratios(name, i=0, over="healthz"):
    # per round: the row against the floor measured just before it
    return [v[i] / runs[over][r][i] for r, v in runs[name].items() if runs[over][r][i]]
rss_mb = int(open(f"{work}/rss-kb").read()) / 1024
startup = int(open(f"{work}/startup-{n}").read())
label = {
    "healthz": "1. GET /healthz (floor)",
    f"app_get_{n}": f"2. GET /v1/apps/web, deploy tokens, {int(n):,} stored",
    "auth_check": "3. GET /v1/auth/check",
    "introspect": "4. POST /v1/oauth/introspect",
    f"app_get_{small}": f"5. GET /v1/apps/web, {int(small):,} stored",
    "create": "6. POST /v1/apps/web/tokens (16 clients)",
}
print(f"gantry benchmark: wrk -t1 -c{conns} on loopback, {rounds} interleaved rounds of {duration} per row, "
      f"{min(int(n), int(sample)):,} distinct tokens in rotation")
print()
print(f"| {'row':<52} | {'req/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | {'× healthz':>9} | {'spread':>11} |")
print(f"|{'-'*54}|{'-'*11}|{'-'*9}|{'-'*9}|{'-'*11}|{'-'*13}|")
for key, text in label.items():
    if key not in runs:
        continue
    rps, p50, p99 = (med(column(key, i)) for i in range(3))
    if key == "create":
        r, spread = rps / med(column("healthz", 0)), ""
    else:
        rs = ratios(key)
        r, spread = med(rs), f"{min(rs):.2f}–{max(rs):.2f}"
    print(f"| {text:<52} | {rps:>9.0f} | {p50:>7.2f} | {p99:>7.2f} | {r:>9.2f} | {spread:>11} |")
print(f"| {'7. RSS after 1M tokens and the runs above':<52} | {rss_mb:>6.0f} MB | {'':>7} | {'':>7} | {'':>9} | {'':>11} |")
print(f"| {'7. start-up to first verified request':<52} | {startup:>6} ms | {'':>7} | {'':>7} | {'':>9} | {'':>11} |")
print()
big, smallr = f"app_get_{n}", f"app_get_{small}"
checks = [
    ("authenticated ≥ 0.85 × healthz throughput", med(ratios(big)), 0.85, True),
    ("authenticated p99 ≤ 2 × healthz p99", med(ratios(big, 2)), 2.0, False),
    ("auth/check ≥ 0.90 × healthz", med(ratios("auth_check")), 0.90, True),
    (f"{int(n):,} stored ≥ 0.90 × {int(small):,} stored", med(ratios(big, 0, smallr)), 0.90, True),
    ("RSS ≤ 400 MB", rss_mb, 400, False),
    ("start-up ≤ 5000 ms", startup, 5000, False),
    ("token creation ≥ 1000/s", med(column("create", 0)), 1000, True),
]
for name, value, target, at_least in checks:
    ok = value >= target if at_least else value <= target
    print(f"{'PASS' if ok else 'MISS'}  {name}: {value:.2f}")
PY
