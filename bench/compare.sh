#!/usr/bin/env bash
# Before/after verification benchmark (issue 20): what a change costs `/v1/auth/check` and an
# authenticated `GET /v1/apps/web`, measured side by side in one run.
#
#   BEFORE=/tmp/gantry-before bench/compare.sh            # BEFORE: a release build of the old commit
#   BEFORE=… AFTER=target/release/gantry ROUNDS=8 DURATION=3s TOKENS=100000 bench/compare.sh
#
# Three servers on copies of one seeded store (TOKENS deploy tokens, all in rotation):
#   before      — the old build;
#   after       — this build, the same tokens (no restriction: what every existing token pays);
#   restricted  — this build, every token given allowed_ips (127.0.0.0/8, ::1/128): what a
#                 restricted token pays (the address parsed and matched on every use).
# Every round measures each row on each server, the servers' order turning every round, so a
# slow spell of the machine lands on all of them; a ratio is the median of per-round ratios
# against `before`, with the spread beside it. The store is seeded by SEED, the old build's
# bench seeder (default: gantry-bench-seed beside BEFORE): it writes the schema the old build
# knows, and the new build migrates its own copy. Needs wrk, curl, python3 and sqlite3 (python's module).
set -euo pipefail
cd "$(dirname "$0")/.."

BEFORE=${BEFORE:?set BEFORE to a release build of the commit to compare against}
N=${TOKENS:-100000}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-8}
CONNS=${CONNS:-64}
WORK=$(mktemp -d /tmp/gantry-compare.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
if [ -z "${AFTER:-}" ]; then
  echo "building release binaries…" >&2
  cargo build --release --quiet -p gantry
fi
AFTER=${AFTER:-target/release/gantry}
SEED=${SEED:-$(dirname "$BEFORE")/gantry-bench-seed}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "seeding $N tokens…" >&2
$SEED "$WORK/seed" "$N" "$N" "$WORK/tokens.txt" >/dev/null
for name in before after restricted; do cp -a "$WORK/seed" "$WORK/data-$name"; done
declare -A URLS BINS=([before]=$BEFORE [after]=$AFTER [restricted]=$AFTER)
FIRST=$(head -1 "$WORK/tokens.txt")
for name in before after restricted; do
  p=$(port)
  URLS[$name]="http://127.0.0.1:$p"
  GANTRY_LOG=warn ${BINS[$name]} serve --listen "127.0.0.1:$p" --data-dir "$WORK/data-$name" >"$WORK/$name.log" 2>&1 &
  until curl -sf -o /dev/null -H "Authorization: Bearer $FIRST" "${URLS[$name]}/v1/apps/web"; do sleep 0.05; done
done
# The restricted copy: every token usable from loopback only (migrated by now, so the column
# exists). Restart it so nothing it cached before the update answers.
python3 - "$WORK/data-restricted" <<'PY'
import glob, sqlite3, sys
db = sqlite3.connect(glob.glob(f"{sys.argv[1]}/*.db")[0])
db.execute("UPDATE tokens SET allowed_ips = '127.0.0.0/8,::1/128'")
db.commit()
PY
kill -TERM $(jobs -p | tail -1); wait $(jobs -p | tail -1) 2>/dev/null || true
p=$(port)
URLS[restricted]="http://127.0.0.1:$p"
GANTRY_LOG=warn $AFTER serve --listen "127.0.0.1:$p" --data-dir "$WORK/data-restricted" >"$WORK/restricted.log" 2>&1 &
until curl -sf -o /dev/null -H "Authorization: Bearer $FIRST" "${URLS[restricted]}/v1/apps/web"; do sleep 0.05; done

for name in before after restricted; do
  echo "warming up $name…" >&2
  TOKENS="$WORK/tokens.txt" wrk -t1 -c"$CONNS" -d"$(( N / 5000 + 5 ))s" -s bench/lua/rotate.lua "${URLS[$name]}/v1/apps/web" >/dev/null 2>&1
done
sleep $(( N / 10000 + 5 ))   # the warm-up's first-use writes land

: >"$WORK/results"
run() {  # ROUND SERVER ROW URL
  wrk --latency -t1 -c"$CONNS" -d"$DURATION" -s bench/lua/rotate.lua "$4" >"$WORK/wrk.out" 2>&1
  python3 - "$1" "$2" "$3" "$WORK/wrk.out" >>"$WORK/results" <<'PY'
import re, sys
rnd, server, row, path = sys.argv[1:]
text = open(path).read()
ms = lambda v, u: float(v) / 1000 if u == "us" else float(v) * 1000 if u == "s" else float(v)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = {m.group(1): ms(m.group(2), m.group(3)) for m in re.finditer(r"\s(50|99)%\s+([\d.]+)(us|ms|s)", text)}
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
if bad:
    sys.stderr.write(f"WARNING: {server} {row}: {bad.group(1)} non-2xx responses\n")
print(rnd, server, row, rps, lat.get("50", 0), lat.get("99", 0))
PY
}
ORDERS=("before after restricted" "after restricted before" "restricted before after")
for ROUND in $(seq "$ROUNDS"); do
  echo "round $ROUND of $ROUNDS…" >&2
  for row in auth_check app_get; do
    path=/v1/apps/web
    [ "$row" = auth_check ] && path="/v1/auth/check?app=web&capability=deploy"
    for name in ${ORDERS[$(( ROUND % 3 ))]}; do
      TOKENS="$WORK/tokens.txt" run "$ROUND" "$name" "$row" "${URLS[$name]}$path"
    done
  done
done

python3 - "$WORK/results" "$N" "$ROUNDS" "$DURATION" "$CONNS" <<'PY'
import statistics, sys
from collections import defaultdict
path, n, rounds, duration, conns = sys.argv[1:]
runs = defaultdict(dict)  # (server, row) -> round -> (rps, p50, p99)
for line in open(path):
    rnd, server, row, rps, p50, p99 = line.split()
    runs[(server, row)][int(rnd)] = (float(rps), float(p50), float(p99))
med = statistics.median
print(f"before/after: wrk -t1 -c{conns} on loopback, {int(n):,} tokens in rotation, "
      f"{rounds} interleaved rounds of {duration} per row and server")
print()
print(f"| {'row':<34} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'× before':>8} | {'spread':>11} |")
print(f"|{'-'*36}|{'-'*10}|{'-'*9}|{'-'*9}|{'-'*10}|{'-'*13}|")
verdicts = []
for row, text in [("auth_check", "GET /v1/auth/check"), ("app_get", "GET /v1/apps/web")]:
    base = runs[("before", row)]
    for server in ["before", "after", "restricted"]:
        r = runs[(server, row)]
        rps, p50, p99 = (med([v[i] for v in r.values()]) for i in range(3))
        ratios = [v[0] / base[k][0] for k, v in r.items() if base.get(k)]
        ratio, spread = med(ratios), f"{min(ratios):.3f}–{max(ratios):.3f}"
        print(f"| {text + ', ' + server:<34} | {rps:>8.0f} | {p50:>7.2f} | {p99:>7.2f} | {ratio:>8.3f} | {spread:>11} |")
        if server != "before":
            verdicts.append((f"{text}, {server} ≥ 0.98 × before", ratio))
print()
for name, value in verdicts:
    print(f"{'PASS' if value >= 0.98 else 'MISS'}  {name}: {value:.3f}")
PY
