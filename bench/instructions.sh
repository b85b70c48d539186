#!/usr/bin/env bash
# Instructions per verified request, before and after a change (issue 20), counted by
# valgrind's callgrind: unlike req/s on a shared 2-core VM, an instruction count repeats for
# the same binary and inputs whatever else the machine does, so a cost of 1-2 % is visible.
#
#   BEFORE=/tmp/old/gantry bench/instructions.sh
#   BEFORE=… AFTER=target/release/gantry TOKENS=5000 REQUESTS=20000 bench/instructions.sh
#
# Three servers, one after the other, each under callgrind on a copy of one seeded store
# (SEED: the old build's bench seeder, default gantry-bench-seed beside BEFORE):
#   before      — the old build;   after — this build;
#   restricted  — this build with every token given allowed_ips (127.0.0.0/8, ::1/128).
# Each is warmed (every token used once, so the index is full and the first-use writes are
# done), its counters zeroed, then REQUESTS keep-alive requests of each row are sent, rotating
# through the tokens, and the instructions counted in that window (every thread: runtime,
# handler, last-used flushes) are divided by REQUESTS. Both rows must end within a minute of
# the warm-up: a token's last use is written again once the written one is 60 s old, and that
# batch landing in one window and not another would be counted as the change's cost (a row
# past the minute is flagged). Needs valgrind and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

BEFORE=${BEFORE:?set BEFORE to a release build of the commit to compare against}
N=${TOKENS:-10000}
REQUESTS=${REQUESTS:-8000}
WORK=$(mktemp -d /tmp/gantry-instr.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ -z "${AFTER:-}" ]; then
  echo "building release binaries…" >&2
  cargo build --release --quiet -p gantry
fi
AFTER=${AFTER:-target/release/gantry}
SEED=${SEED:-$(dirname "$BEFORE")/gantry-bench-seed}
command -v valgrind >/dev/null || { apt-get install -y valgrind >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# send PORT PATH COUNT: COUNT keep-alive GETs rotating through the tokens; fails on a non-200.
send() {
  python3 - "$1" "$2" "$3" "$WORK/tokens.txt" <<'PY'
import http.client, sys
port, path, count, tokens = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), open(sys.argv[4]).read().split()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for i in range(count):
    c.request("GET", path, headers={"Authorization": "Bearer " + tokens[i % len(tokens)]})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"{path}: {r.status}")
PY
}

echo "seeding $N tokens…" >&2
$SEED "$WORK/seed" "$N" "$N" "$WORK/tokens.txt" >/dev/null
FIRST=$(head -1 "$WORK/tokens.txt")
: >"$WORK/results"
for name in before after restricted; do
  bin=$AFTER; [ "$name" = before ] && bin=$BEFORE
  cp -a "$WORK/seed" "$WORK/data-$name"
  if [ "$name" = restricted ]; then
    # Migrate the copy first (a plain start), then restrict every token.
    p=$(port)
    GANTRY_LOG=warn $bin serve --listen "127.0.0.1:$p" --data-dir "$WORK/data-$name" >/dev/null 2>&1 &
    until curl -sf -o /dev/null "http://127.0.0.1:$p/healthz"; do sleep 0.05; done
    kill -TERM $!; wait $! 2>/dev/null || true
    python3 -c "import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); d.execute(\"UPDATE tokens SET allowed_ips='127.0.0.0/8,::1/128'\"); d.commit()" "$WORK/data-$name/gantry.db"
  fi
  p=$(port)
  echo "$name under callgrind…" >&2
  GANTRY_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$WORK/cg-$name.%p" --dump-instr=no \
    "$bin" serve --listen "127.0.0.1:$p" --data-dir "$WORK/data-$name" >"$WORK/$name.log" 2>&1 &
  VPID=$!
  until curl -sf -o /dev/null -H "Authorization: Bearer $FIRST" "http://127.0.0.1:$p/v1/apps/web"; do sleep 0.2; done
  send "$p" /v1/apps/web "$N"      # warm: every token once
  sleep 3                           # its first-use writes land
  t0=$(date +%s)
  for row in auth_check app_get; do
    path=/v1/apps/web
    [ "$row" = auth_check ] && path="/v1/auth/check?app=web&capability=deploy"
    send "$p" "$path" 500            # this row's own first requests
    callgrind_control --zero "$VPID" >/dev/null 2>&1
    send "$p" "$path" "$REQUESTS"
    out=$(callgrind_control --dump="$row" "$VPID" 2>&1)
    sleep 1
    file=$(ls -t "$WORK"/cg-"$name".* | head -1)
    ir=$(awk '/^summary:|^totals:/ {print $2; exit}' "$file")
    echo "$name $row $ir" >>"$WORK/results"
    : "$out"
  done
  if [ $(( $(date +%s) - t0 )) -gt 55 ]; then
    echo "WARNING: $name's rows took $(( $(date +%s) - t0 )) s: last-used writes may be in a window; lower REQUESTS" | tee -a "$WORK/warnings" >&2
  fi
  kill -TERM "$VPID"; wait "$VPID" 2>/dev/null || true
done
[ -f "$WORK/warnings" ] && cat "$WORK/warnings"

python3 - "$WORK/results" "$REQUESTS" "$N" <<'PY'
import sys
path, requests, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ir = {}
for line in open(path):
    name, row, count = line.split()
    ir[(name, row)] = int(count) / requests
print(f"instructions per request (callgrind, every thread, {requests:,} keep-alive requests per row, {n:,} tokens in rotation)")
print()
print(f"| {'row':<20} | {'before':>9} | {'after':>9} | {'restricted':>10} | {'after/before':>12} | {'restricted/before':>17} |")
print(f"|{'-'*22}|{'-'*11}|{'-'*11}|{'-'*12}|{'-'*14}|{'-'*19}|")
verdicts = []
for row, text in [("auth_check", "GET /v1/auth/check"), ("app_get", "GET /v1/apps/web")]:
    b, a, r = ir[("before", row)], ir[("after", row)], ir[("restricted", row)]
    print(f"| {text:<20} | {b:>9.0f} | {a:>9.0f} | {r:>10.0f} | {a / b:>12.4f} | {r / b:>17.4f} |")
    verdicts += [(f"{text}: after ≤ 1.02 × before", a / b), (f"{text}: restricted ≤ 1.02 × before", r / b)]
print()
for name, v in verdicts:
    print(f"{'PASS' if v <= 1.02 else 'MISS'}  {name}: {v:.4f}")
PY
