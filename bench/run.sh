#!/usr/bin/env bash
# deno task bench [quick|full|long]: Kairos against nginx (the baseline), haproxy, caddy and a naive Deno proxy,
# with wrk on loopback, using the harness in bench/harness (see its README header). Extra gateway slots:
# gateway-1k (1,000 routes), gateway-policies (JWT + rate limit + transformation), gateway-fetch (fetch client).
# Results: bench/results/results-<stamp>.md (+ .tsv).
set -euo pipefail
export RUST_BACKTRACE=0 NO_COLOR=1
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODE=${1:-full}
# long: full's three repetitions with 10 s samples after 10 s of initial warm-up, closer to a process that has
# been serving for a while (V8's GC settles over tens of seconds); about 13 minutes.
if [[ $MODE == long ]]; then
  export DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} DENO_INIT_WARMUP=${DENO_INIT_WARMUP:-10}
  MODE=full
fi

# Setup: the reference servers and the load generator come from Debian.
need=()
for cmd in nginx:nginx-light haproxy:haproxy caddy:caddy wrk:wrk jq:jq curl:curl taskset:util-linux; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd#*:}")
done
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

CONF_DIR=$(mktemp -d /tmp/kairos-bench.XXXXXX)
trap 'rm -rf "$CONF_DIR"' EXIT
TOKEN=$(deno run -A bench/make_configs.ts "$CONF_DIR")

export GATEWAY_CONFIG="$CONF_DIR/gateway.json"
export GATEWAY_EXTRA="${GATEWAY_EXTRA-1k=$CONF_DIR/gateway-1k.json policies=$CONF_DIR/gateway-policies.json fetch=$CONF_DIR/gateway-fetch.json}"
# The V8 flags Kairos ships with (`deno task start` and the compiled binaries carry the same ones).
V8_FLAGS=$(sed -n 's/.*"start": "[^"]*--v8-flags=\([^ "]*\).*/\1/p' deno.json)
export GATEWAY_CMD="deno run -A --v8-flags=$V8_FLAGS $PWD/main.ts serve -c \"\$GATEWAY_CONFIG\" --host 127.0.0.1 --port \"\$GATEWAY_PORT\""
export BENCH_HEADER="Authorization: Bearer $TOKEN"
export OUT_DIR=${OUT_DIR:-$PWD/bench/results}
export KAIROS_LOG_LEVEL=warn
bash bench/harness/run.sh "$MODE"
