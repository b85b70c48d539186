#!/usr/bin/env bash
# gantry alerts benchmark (issue 18): what the outbox costs token creation, and how fast one
# rule's deliveries reach a local receiver.
#
#   bench/alerts.sh                    # 6 interleaved rounds of 3 s each
#   ROUNDS=10 DURATION=5s bench/alerts.sh
#
# One gantry (release build, SQLite, fresh data directory) and one receiver outside gantry
# (bench/seed/src/bin/gantry-bench-receiver.rs: 204 to every POST, no checks). In each round,
# tokens are created for DURATION with the rule disabled (each creation still writes its event
# to the outbox), then for DURATION with it enabled (event, delivery, and the dispatcher
# sending each one while creations go on); then the round waits until the receiver has every
# delivery. Printed: creations/s without and with the rule and their ratio; deliveries/s while
# draining the backlog the creations left, against the receiver's own rate under wrk at the
# dispatcher's concurrency for one rule (4), measured in the same round. wrk, gantry, its
# dispatcher and the receiver share the machine's cores, as they would on a small node.
# Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-6}
CONNS=${CONNS:-16}
WORK=$(mktemp -d /tmp/gantry-alerts-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
echo "building release binaries…" >&2
cargo build --release --quiet -p gantry -p gantry-bench-seed
GANTRY=target/release/gantry
RECEIVER=target/release/gantry-bench-receiver
PASSWORD="benchmark password 1"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
now() { date +%s%N; }

RPORT=$(port)
$RECEIVER "127.0.0.1:$RPORT" >"$WORK/receiver.log" 2>&1 &
HOOK="http://127.0.0.1:$RPORT/hook"
until curl -sf -o /dev/null "http://127.0.0.1:$RPORT/count"; do sleep 0.01; done
# count: deliveries received so far; distinct: distinct webhook-ids among them
count() { curl -sf "http://127.0.0.1:$RPORT/count" | cut -d' ' -f1; }
distinct() { curl -sf "http://127.0.0.1:$RPORT/count" | cut -d' ' -f2; }

GPORT=$(port)
URL="http://127.0.0.1:$GPORT"
GANTRY_LOG=warn GANTRY_ADMIN_EMAIL=bench@example.com GANTRY_ADMIN_PASSWORD="$PASSWORD" \
  GANTRY_ALERTS_ALLOW_NETWORKS=127.0.0.0/8 \
  $GANTRY serve --listen "127.0.0.1:$GPORT" --data-dir "$WORK/data" >"$WORK/gantry.log" 2>&1 &
until curl -sf -o /dev/null "$URL/healthz"; do sleep 0.01; done
ADMIN=$(curl -sf -X POST "$URL/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" | json '["token"]')
api() { curl -sf -X "$1" "$URL$2" -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' ${3:+-d "$3"}; }
api POST /v1/orgs '{"slug":"acme"}' >/dev/null
api POST /v1/orgs/acme/apps '{"slug":"web"}' >/dev/null
RULE=$(api POST /v1/orgs/acme/alerts "{\"name\":\"bench\",\"events\":[\"token.created\"],\"target\":\"$HOOK\"}" | json '["id"]')

# A body of an event's size, for the receiver's own rate.
cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "evt_0000000000000000"
wrk.headers["webhook-timestamp"] = "1764720000"
wrk.headers["webhook-signature"] = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
wrk.body = string.rep("x", 600)
LUA

# wrk ARGS… -> "requests rps"
measure() {
  wrk -t1 "$@" >"$WORK/wrk.out" 2>&1
  python3 - "$WORK/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
n = int(re.search(r"(\d+) requests in", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
if bad:
    sys.stderr.write(f"WARNING: {bad.group(1)} non-2xx responses\n")
    n -= int(bad.group(1))
print(n, float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)))
PY
}

: >"$WORK/results"
EXPECTED=0
for ROUND in $(seq "$ROUNDS"); do
  echo "round $ROUND of $ROUNDS…" >&2
  read -r _ floor < <(measure -c4 -d"$DURATION" -s "$WORK/post.lua" "http://127.0.0.1:$RPORT/floor")
  api PATCH "/v1/orgs/acme/alerts/$RULE" '{"enabled":false}' >/dev/null
  read -r _ without < <(CALLER="$ADMIN" measure -c"$CONNS" -d"$DURATION" -s bench/lua/create.lua "$URL/v1/apps/web/tokens")
  api PATCH "/v1/orgs/acme/alerts/$RULE" '{"enabled":true}' >/dev/null
  base=$(count)
  read -r made with < <(CALLER="$ADMIN" measure -c"$CONNS" -d"$DURATION" -s bench/lua/create.lua "$URL/v1/apps/web/tokens")
  t0=$(now); c0=$(( $(count) - base ))
  until [ $(( $(count) - base )) -ge "$made" ]; do
    sleep 0.02
    if [ $(( ($(now) - t0) / 1000000000 )) -gt 120 ]; then echo "deliveries stalled at $(( $(count) - base )) of $made" >&2; exit 1; fi
  done
  t1=$(now)
  echo "$ROUND $floor $without $with $made $c0 $(( (t1 - t0) / 1000 ))" >>"$WORK/results"
  EXPECTED=$(( EXPECTED + made ))
done
# Nothing more than asked: every event delivered once. (wrk counts only the creations it saw
# answered: one it gave up on after its 2 s timeout may still have committed, and been
# delivered, so the check is on webhook-ids, not on wrk's count.)
sleep 2
DELIVERED=$(count)
DISTINCT=$(distinct)
PENDING=$(api GET "/v1/orgs/acme/alerts/$RULE/deliveries?limit=100" | python3 -c 'import sys,json; print(sum(1 for d in json.load(sys.stdin)["items"] if d["state"]!="delivered"))')

python3 - "$WORK/results" "$DURATION" "$ROUNDS" "$CONNS" "$PENDING" "$DELIVERED" "$EXPECTED" "$DISTINCT" <<'PY'
import statistics, sys
path, duration, rounds, conns, pending, delivered, expected, distinct = sys.argv[1:]
rows = [list(map(float, l.split())) for l in open(path)]
med = statistics.median
floor = [r[1] for r in rows]; without = [r[2] for r in rows]; withr = [r[3] for r in rows]
made = [r[4] for r in rows]; during = [r[5] for r in rows]; drain_us = [r[6] for r in rows]
ratio = [w / o for o, w in zip(without, withr)]
# Delivered while draining the backlog each round's creations left behind.
drain = [(m - d) / (us / 1e6) for m, d, us in zip(made, during, drain_us) if us > 0 and m - d > 0]
drain_ratio = [x / f for x, f in zip(drain, floor)]
print(f"gantry alerts benchmark: {rounds} interleaved rounds of {duration}, {conns} clients creating tokens, one webhook rule to a local receiver")
print()
print(f"| {'row':<58} | {'median':>9} | {'spread':>17} |")
print(f"|{'-'*60}|{'-'*11}|{'-'*19}|")
def row(name, xs, fmt="{:.0f}"):
    print(f"| {name:<58} | {fmt.format(med(xs)):>9} | {(fmt.format(min(xs)) + '–' + fmt.format(max(xs))):>17} |")
row("1. token creations/s, rule disabled (event only)", without)
row("2. token creations/s, rule enabled (event + delivery)", withr)
row("3. with ÷ without", ratio, "{:.2f}")
row("4. receiver's own rate at 4 connections (floor), req/s", floor)
if drain:
    row("5. deliveries/s draining the backlog", drain)
    row("6. deliveries/s ÷ receiver floor", drain_ratio, "{:.2f}")
row("7. delivered while the creations ran (share)", [d / m for d, m in zip(during, made)], "{:.2f}")
print()
checks = [
    ("creation with a rule ≥ 0.80 × without", med(ratio), 0.80),
    ("deliveries/s ≥ 500", med(drain) if drain else 0, 500),
    (f"each event delivered exactly once ({delivered} received, {distinct} distinct webhook-ids, "
     f"{expected} creations answered, {pending} of the newest 100 not delivered)",
     1.0 if delivered == distinct and int(distinct) >= int(expected) and pending == "0" else 0.0, 1.0),
]
for name, value, target in checks:
    print(f"{'PASS' if value >= target else 'MISS'}  {name}: {value:.2f}")
PY
