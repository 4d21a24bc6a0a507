#!/usr/bin/env bash
# Profiles the gateway's request path: nginx backends on :9101/:9102, the gateway under `deno run --cpu-prof`
# on one core, wrk on the other for DURATION seconds, then prints the hottest functions by self time.
#   bash bench/profile.sh [config-name]   (config-name: gateway | gateway-policies | gateway-1k | gateway-fetch)
set -euo pipefail
export RUST_BACKTRACE=0 NO_COLOR=1 KAIROS_LOG_LEVEL=warn
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NAME=${1:-gateway} DURATION=${DURATION:-8} CONNS=${CONNS:-32}
RUN=$(mktemp -d /tmp/kairos-prof.XXXXXX)
mkdir -p "$RUN/tmp"
cleanup() { [[ -n ${GW:-} ]] && kill "$GW" 2>/dev/null; [[ -n ${BE:-} ]] && kill "$BE" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
TOKEN=$(deno run -A bench/make_configs.ts "$RUN")
printf "return 200 '%s';\n" "$(cat bench/harness/conf/body.json)" >"$RUN/body_return.conf"
sed -e "s|@RUN@|$RUN|g" -e "s|@BODY_INC@|$RUN/body_return.conf|g" bench/harness/conf/backend-nginx.conf >"$RUN/backend.conf"
taskset -c 0 nginx -p "$RUN" -e "$RUN/backend.err" -c "$RUN/backend.conf" & BE=$!
# V8_FLAGS overrides the flags `deno task start` runs with.
V8_FLAGS=${V8_FLAGS-$(sed -n 's/.*"start": "[^"]*--v8-flags=\([^ "]*\).*/\1/p' deno.json)}
taskset -c 1 deno run -A ${V8_FLAGS:+--v8-flags=$V8_FLAGS} --cpu-prof --cpu-prof-dir="$RUN/prof" main.ts serve -c "$RUN/$NAME.json" \
  --host 127.0.0.1 --port 9300 >"$RUN/gw.log" 2>&1 & GW=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9300/api/bench && break; sleep 0.1; done
taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION"s -H "Authorization: Bearer $TOKEN" --latency http://127.0.0.1:9300/api/bench | sed -n '3,4p;/Requests\/sec/p'
kill -INT "$GW"; wait "$GW" || true; GW=
deno run -A bench/profile_summary.ts "$RUN"/prof/*.cpuprofile 45 40
[[ -n ${KEEP_PROFILE:-} ]] && cp "$RUN"/prof/*.cpuprofile "$KEEP_PROFILE"
rm -rf "$RUN"
