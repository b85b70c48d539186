#!/usr/bin/env bash
# gantry keyless-CI benchmark (issue 19): RFC 8693 token exchanges per second on one node, for
# RS256 and ES256 ID tokens, beside two references measured in the same run: token creations/s
# through the API (an exchange is a verified JWT plus one such creation, with its jti spent in
# the same transaction), and the floor outside gantry — jsonwebtoken verifying the same
# signatures on one core with nothing around it.
#
#   bench/oidc.sh                         # 3 interleaved rounds of 5 s each
#   ROUNDS=5 DURATION=3s bench/oidc.sh
#
# One gantry (release build, SQLite, fresh data directory) and one issuer outside gantry
# (bench/seed/src/bin/gantry-bench-issuer.rs: keys made by openssl, discovery and JWKS on
# loopback, N fresh ID tokens per algorithm written beforehand so that wrk sends each once).
# wrk, gantry and the issuer share the machine's cores. Needs wrk, curl and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
PER_RUN=${PER_RUN:-20000}
WORK=$(mktemp -d /tmp/gantry-oidc-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
echo "building release binaries…" >&2
cargo build --release --quiet -p gantry -p gantry-bench-seed
GANTRY=target/release/gantry
ISSUER=target/release/gantry-bench-issuer
PASSWORD="benchmark password 1"
AUDIENCE=https://gantry.bench.example

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }

IPORT=$(port)
echo "making $(( PER_RUN * ROUNDS )) ID tokens per algorithm…" >&2
$ISSUER "127.0.0.1:$IPORT" "$WORK" $(( PER_RUN * ROUNDS )) "$AUDIENCE" >"$WORK/issuer.log" 2>&1 &
until grep -q '^ready' "$WORK/issuer.log" 2>/dev/null; do sleep 0.1; done
FLOOR_RS=$(awk '/^floor RS256/ {print $3}' "$WORK/issuer.log")
FLOOR_ES=$(awk '/^floor ES256/ {print $3}' "$WORK/issuer.log")

GPORT=$(port)
URL="http://127.0.0.1:$GPORT"
GANTRY_LOG=warn GANTRY_ADMIN_EMAIL=bench@example.com GANTRY_ADMIN_PASSWORD="$PASSWORD" \
  GANTRY_OIDC_ALLOW_INSECURE_ISSUERS="http://127.0.0.1:$IPORT" GANTRY_PUBLIC_URL="$AUDIENCE" \
  GANTRY_RATE_LIMIT_TOKEN_EXCHANGE=10000000/1m \
  $GANTRY serve --listen "127.0.0.1:$GPORT" --data-dir "$WORK/data" >"$WORK/gantry.log" 2>&1 &
until curl -sf -o /dev/null "$URL/healthz"; do sleep 0.01; done
ADMIN=$(curl -sf -X POST "$URL/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" | json '["token"]')
api() { curl -sf -X "$1" "$URL$2" -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' ${3:+-d "$3"}; }
api POST /v1/orgs '{"slug":"acme"}' >/dev/null
api POST /v1/orgs/acme/apps '{"slug":"web"}' >/dev/null
api POST /v1/apps/web/trust-policies "{\"name\":\"bench\",\"preset\":\"github\",\"issuer\":\"http://127.0.0.1:$IPORT\",\"conditions\":{\"repository_id\":\"1001\",\"repository_owner_id\":\"2002\",\"ref\":\"refs/heads/main\"}}" >/dev/null

# exchange FILE FIRST -> "exchanged/s p99_ms"
exchange() {
  wrk -t2 -c"$CONNS" -d"$DURATION" -s bench/lua/exchange.lua "$URL" -- "$1" "$2" "$PER_RUN" >"$WORK/wrk.out" 2>&1
  python3 - "$WORK/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"exchanged (\d+) refused (\d+) seconds ([\d.]+) p99_ms ([\d.]+)", t)
if not m:
    sys.exit(f"no summary from wrk: {t}")
ok, refused, secs, p99 = int(m[1]), int(m[2]), float(m[3]), float(m[4])
if refused:
    sys.stderr.write(f"WARNING: {refused} exchanges refused (ran out of ID tokens? raise PER_RUN)\n")
print(ok / secs, p99)
PY
}
creations() {
  CALLER="$ADMIN" wrk -t2 -c"$CONNS" -d"$DURATION" -s bench/lua/create.lua "$URL/v1/apps/web/tokens" >"$WORK/wrk.out" 2>&1
  python3 -c 'import re,sys; t=open(sys.argv[1]).read(); print(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))' "$WORK/wrk.out"
}

: >"$WORK/results"
for ROUND in $(seq "$ROUNDS"); do
  echo "round $ROUND of $ROUNDS…" >&2
  FIRST=$(( (ROUND - 1) * PER_RUN + 1 ))
  created=$(creations)
  read -r rs rs_p99 < <(exchange "$WORK/rs256.txt" "$FIRST")
  read -r es es_p99 < <(exchange "$WORK/es256.txt" "$FIRST")
  echo "$created $rs $rs_p99 $es $es_p99" >>"$WORK/results"
done

python3 - "$WORK/results" "$DURATION" "$ROUNDS" "$CONNS" "$FLOOR_RS" "$FLOOR_ES" <<'PY'
import statistics, sys
path, duration, rounds, conns, floor_rs, floor_es = sys.argv[1:]
rows = [list(map(float, l.split())) for l in open(path)]
med = statistics.median
col = lambda i: [r[i] for r in rows]
print(f"gantry token-exchange benchmark: {rounds} interleaved rounds of {duration}, {conns} connections, SQLite, one node")
print()
print(f"| {'row':<58} | {'median':>9} | {'spread':>17} |")
print(f"|{'-'*60}|{'-'*11}|{'-'*19}|")
def row(name, xs, fmt="{:.0f}"):
    print(f"| {name:<58} | {fmt.format(med(xs)):>9} | {(fmt.format(min(xs)) + '–' + fmt.format(max(xs))):>17} |")
row("1. token creations/s through the API (reference)", col(0))
row("2. RS256 exchanges/s", col(1))
row("3. ES256 exchanges/s", col(3))
row("4. RS256 exchanges ÷ creations", [r[1] / r[0] for r in rows], "{:.2f}")
row("5. ES256 exchanges ÷ creations", [r[3] / r[0] for r in rows], "{:.2f}")
row("6. RS256 exchange p99, ms", col(2), "{:.1f}")
row("7. ES256 exchange p99, ms", col(4), "{:.1f}")
print(f"| {'8. floor: RS256 signature checks/s, one core, jsonwebtoken':<58} | {float(floor_rs):>9.0f} | {'':>17} |")
print(f"| {'9. floor: ES256 signature checks/s, one core, jsonwebtoken':<58} | {float(floor_es):>9.0f} | {'':>17} |")
PY
