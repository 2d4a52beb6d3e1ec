#!/usr/bin/env bash
# Load test of forward-auth with wrk: `palisade serve` with gateway-baseline
# (its JWKS replaced by a fresh key, one token signed with it), 2 threads,
# 64 connections (CONNECTIONS), 20 s (DURATION); then the same while the
# bundle reloads 50 times; then while a stream of hostile requests arrives
# (deep YAML, entity chains, giant headers, bad tokens, on 4 connections);
# then /v1/authorize. Each phase prints wrk's rate and latency and the
# server's CPU time per request.
#
#   [CONNECTIONS=64] [DURATION=20s] scripts/loadtest.sh [target/release/palisade]
#
# REDIS=URL adds a rate limit (never reached) kept in that Redis, LIMIT=1
# the same limit in the server's own buckets (the comparison);
# QUICK=1 runs the first forward-auth phase and /v1/authorize only;
# NO_PLUGIN=1 takes the secrets plugin out of the bundle; PERF=file records
# the server with perf during the first forward-auth phase, and
# file.authorize during /v1/authorize (use a binary with line tables:
# cargo build --profile profiling).
set -euo pipefail
palisade="${1:-target/release/palisade}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r policies/gateway-baseline "$work/bundle"
openssl ecparam -genkey -name prime256v1 -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/key.pem"
python3 - "$work" <<'PY'
import base64, json, sys, subprocess
from pathlib import Path
work = Path(sys.argv[1])
der = subprocess.run(["openssl", "ec", "-in", str(work / "key.pem"), "-pubout", "-outform", "DER"],
                     capture_output=True, check=True).stdout
x, y = der[-64:-32], der[-32:]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
jwks = {"keys": [{"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "kid": "load", "alg": "ES256"}]}
(work / "bundle" / "jwks.json").write_text(json.dumps(jwks))
PY
token=$("$palisade" token --key "$work/key.pem" --kid load --sub bob --ttl 3600 \
  --claim iss=https://id.example.com --claim aud=orders-api --claim tenant=acme --claim scope=orders:read)
# No rate limits for the load test: they would turn most answers into 429.
sed -i '/^\[\[gateway.rate_limit\]\]/,$d' "$work/bundle/palisade.toml"
# REDIS=redis://host:port: one limit too large to refuse anything, its
# buckets in that Redis (--rate-limit-redis), to measure the round trip;
# LIMIT=1: the same limit, local.
serve_flags=()
if [[ -n "${REDIS:-}${LIMIT:-}" ]]; then
  printf '\n[[gateway.rate_limit]]\nper = "principal"\nrate = 1000000.0\nburst = 1000000\n' >> "$work/bundle/palisade.toml"
fi
if [[ -n "${REDIS:-}" ]]; then
  serve_flags=(--rate-limit-redis "$REDIS")
fi
if [[ -n "${NO_PLUGIN:-}" ]]; then
  sed -i '/^\[\[plugin\]\]/,/^sha256/d' "$work/bundle/palisade.toml"
fi
# 50 policies: the bundle's own and forbids spread over the route table's
# seven actions, as a bundle for this API would be (about six more on every
# request, evaluated and never matching). SAME_ACTION=1 puts all of them on
# the action the load calls (viewOrder): the worst case.
have=$(cat "$work"/bundle/policies/*.cedar | grep -c '^@id(')
actions=(viewOrder listOrders createOrder deleteOrder createPayout listUsers health)
for i in $(seq $((50 - have))); do
  if [[ -n "${SAME_ACTION:-}" ]]; then a=viewOrder; else a=${actions[$((i % 7))]}; fi
  printf '@id("load.blocked-%s")\n@category("other")\n@severity("low")\nforbid (principal, action == Action::"%s", resource)\nwhen { context.request.path like "/blocked-%s/*" || context.request.host == "blocked-%s.example" };\n\n' "$i" "$a" "$i" "$i"
done > "$work/bundle/policies/load.cedar"
echo "bundle: $(cat "$work"/bundle/policies/*.cedar | grep -c '^@id(') policies, plugins: $(grep -c '^\[\[plugin\]\]' "$work/bundle/palisade.toml")"
# ICOUNT=file: the server runs under valgrind's callgrind, which counts
# the instructions it executes in user space: each phase is counted alone
# (dumped to file.<pid>.<n>, which callgrind_annotate reads) and reported
# per request. Two runs of one build agree within 0.1%, however busy the
# machine, so it compares builds where times do not. Use a short
# DURATION and few CONNECTIONS: the server runs about 50 times slower.
wrap=()
if [[ -n "${ICOUNT:-}" ]]; then
  wrap=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$ICOUNT.%p")
fi
"${wrap[@]}" "$palisade" serve --bundle "$work/bundle" --listen 127.0.0.1:8181 --decision-log off --watch 0 "${serve_flags[@]}" 2> "$work/serve.log" &
server=$!
for _ in $(seq 120); do
  curl -sf -o /dev/null http://127.0.0.1:8181/health && break
  sleep 0.5
done
# wrk with script $1 on /v1/$2; then the server's CPU time per request
# (user and system, from /proc), which varies less than the rate when other
# work shares the machine.
load() {
  local before after out requests
  if [[ -n "${ICOUNT:-}" ]]; then
    callgrind_control -z "$server" > /dev/null
    callgrind_control -i on "$server" > /dev/null
  fi
  before=$(awk '{print $14, $15}' "/proc/$server/stat")
  out=$(wrk -t2 -c"${CONNECTIONS:-64}" -d"${DURATION:-20s}" --latency -s "$work/$1" "http://127.0.0.1:8181/v1/$2")
  after=$(awk '{print $14, $15}' "/proc/$server/stat")
  echo "$out" | grep -E "Requests/sec|p50|Socket|Non-2xx"
  requests=$(echo "$out" | grep -oE "^ +[0-9]+ requests" | grep -oE "[0-9]+")
  if [[ -n "${ICOUNT:-}" ]]; then
    callgrind_control -d "$server" > /dev/null
    callgrind_control -i off "$server" > /dev/null
    local dump counted
    dump=$(ls -t "$ICOUNT".* | head -1)
    counted=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    echo "server instructions per request: $((counted / requests)) (callgrind, $requests requests, $dump)"
  fi
  read -r u0 s0 <<< "$before"
  read -r u1 s1 <<< "$after"
  local tick_us=$((1000000 / $(getconf CLK_TCK)))
  echo "server CPU per request: user $(((u1 - u0) * tick_us * 1000 / requests)) ns, system $(((s1 - s0) * tick_us * 1000 / requests)) ns"
}
cat > "$work/auth.lua" <<LUA
wrk.method = "GET"
wrk.headers["X-Original-URI"] = "/tenants/acme/orders/42"
wrk.headers["X-Original-Method"] = "GET"
wrk.headers["Authorization"] = "Bearer $token"
LUA
# VARY=1: every request asks about another order, so no two plugin inputs
# are the same (the plugin memo never answers).
if [[ -n "${VARY:-}" ]]; then
  cat >> "$work/auth.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  wrk.headers["X-Original-URI"] = "/tenants/acme/orders/" .. counter
  return wrk.format()
end
LUA
fi
cat >> "$work/auth.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, non-2xx %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA
curl -s -o /dev/null -w "check: %{http_code}\n" -H "X-Original-URI: /tenants/acme/orders/42" \
  -H "Authorization: Bearer $token" http://127.0.0.1:8181/v1/forward-auth
echo "== forward-auth, ${CONNECTIONS:-64} connections, ${DURATION:-20s}"
if [[ -n "${PERF:-}" ]]; then
  perf record -F 999 --call-graph dwarf,16384 -o "$PERF" -p "$server" 2> /dev/null &
  perf=$!
fi
load auth.lua forward-auth
if [[ -n "${PERF:-}" ]]; then kill -INT "$perf"; wait "$perf" || true; fi
echo "server RSS: $(ps -o rss= -p $server) KB"
if [[ -z "${QUICK:-}" ]]; then
echo "== forward-auth during 50 reloads"
( for i in $(seq 50); do kill -HUP $server; sleep 0.3; done ) &
load auth.lua forward-auth
wait %2 2>/dev/null || true
echo "reloads applied: $(grep -c 'reloaded (SIGHUP)' "$work/serve.log"), refused: $(grep -c refused "$work/serve.log" || true)"
echo "server RSS: $(ps -o rss= -p $server) KB"

# Hostile requests, each refused by a limit (issue 9), sent by 4 bounded
# loops for as long as the phase lasts, while wrk measures valid requests.
python3 - "$work" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
(work / "deep.yaml").write_text("- " * 40000 + "x")
chain = [{"uid": {"type": "G", "id": f"g{i}"}, "attrs": {}, "parents": [{"type": "G", "id": f"g{i+1}"}]} for i in range(1000)]
(work / "chain.json").write_text(json.dumps({"principal": {"type": "G", "id": "g0"}, "action": "Action::\"view\"", "resource": "D::\"d\"", "entities": chain}))
(work / "bigheader").write_text("x" * 60000)
PY
hostile() {
  local secs=${DURATION:-20s}
  local until=$((SECONDS + ${secs%s}))
  while ((SECONDS < until)); do
    case $1 in
      yaml) curl -s -o /dev/null --data-binary @"$work/deep.yaml" http://127.0.0.1:8181/v1/check ;;
      chain) curl -s -o /dev/null --data-binary @"$work/chain.json" http://127.0.0.1:8181/v1/authorize ;;
      header) curl -s -o /dev/null -H "X-Original-URI: /tenants/acme/orders/1" -H "X-Pad: $(cat "$work/bigheader")" http://127.0.0.1:8181/v1/forward-auth ;;
      token) curl -s -o /dev/null -H "X-Original-URI: /tenants/acme/orders/1" -H "Authorization: Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImxvYWQifQ.eyJzdWIiOiJtYWxsb3J5In0.AAAA$RANDOM" http://127.0.0.1:8181/v1/forward-auth ;;
    esac
  done
}
echo "== forward-auth while hostile requests arrive"
pids=()
for kind in yaml chain header token; do hostile $kind & pids+=($!); done
load auth.lua forward-auth
wait "${pids[@]}"
kill -0 "$server" && echo "server alive; panics in its log: $(grep -ci panic "$work/serve.log" || true)"
echo "server RSS: $(ps -o rss= -p $server) KB"

fi

# /v1/authorize: the request a gateway builds itself (what forward-auth
# derives from the token and the route), with the same policies.
cat > "$work/authorize.json" <<'JSON'
{"principal": "User::\"bob\"", "action": "Action::\"viewOrder\"", "resource": "Order::\"acme/42\"",
 "context": {"now": 1764374400, "authenticated": true,
             "request": {"method": "GET", "path": "/tenants/acme/orders/42", "host": "api.example.com", "client": ""},
             "route": {"path": "/tenants/{tenant}/orders/{id}", "public": false},
             "params": {"tenant": "acme", "id": "42"},
             "token": {"scopes": ["orders:read"], "amr": [], "mfa": false, "issuer": "https://id.example.com", "age": 60}},
 "entities": [{"uid": {"type": "User", "id": "bob"}, "attrs": {"tenant": "acme"}, "parents": []}]}
JSON
cat > "$work/authorize.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$(cat "$work/authorize.json")]]
done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, non-2xx %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA
echo "check: $(curl -s -d @"$work/authorize.json" http://127.0.0.1:8181/v1/authorize | head -c 60)"
echo "== /v1/authorize, ${CONNECTIONS:-64} connections, ${DURATION:-20s}"
if [[ -n "${PERF:-}" ]]; then
  perf record -F 999 --call-graph dwarf,16384 -o "$PERF.authorize" -p "$server" 2> /dev/null &
  perf=$!
fi
load authorize.lua authorize
if [[ -n "${PERF:-}" ]]; then kill -INT "$perf"; wait "$perf" || true; fi
echo "server RSS: $(ps -o rss= -p $server) KB"
