#!/usr/bin/env bash
# Side-by-side benchmark of HTTP reverse proxies on loopback (see bench/README.md).
#
#   bench/run.sh          full run: 3 interleaved repetitions, c=32 and c=256, WS test (~6 min, ~7 if samples get re-measured)
#   bench/run.sh quick    1 repetition, short durations (~2 min)
#
# Optional env:
#   GATEWAY_CMD     command that starts the project's gateway (run via `bash -c "$GATEWAY_CMD"`, pinned);
#                   it gets GATEWAY_CONFIG (JSON, see conf/gateway.example.json) and GATEWAY_PORT.
#   GATEWAY_CONFIG  use this config file instead of the generated one;  GATEWAY_PORT (default 9208)
#   GATEWAY_WS=0    skip the WebSocket test through the gateway
#   BENCH_HEADER    (Kairos addition) one "Name: value" header every HTTP request carries (e.g. a JWT for
#                   the policies slot); other targets ignore it
#   (Kairos addition) target deno-floor: deno/floor_proxy.ts, the least a Deno.serve + Deno.connect proxy can do
#                   per request, so every run shows the ceiling of a Deno gateway next to the gateway itself
#   GATEWAY_EXTRA   (Kairos addition) space-separated NAME=CONFIG pairs: more gateway slots, each started with
#                   GATEWAY_CMD and its own config, named gateway-NAME (ports 9211, 9212, ...); e.g.
#                   GATEWAY_EXTRA="1k=/tmp/1k.json policies=/tmp/pol.json"
#   TARGETS         space-separated subset/order of targets (default: all but deno-naive-par, deno-hono-local)
#   REPS DURATION WARMUP INIT_WARMUP DENO_INIT_WARMUP CONCS WS_MSGS WS_CONNS WS_REPS WS_TARGETS
#                   override the mode's defaults (durations in whole seconds)
#   LOADGEN_CPU (0) BACKEND_CPU (0) PROXY_CPU (1)   taskset pinning
#   QUIET_PCT (20) QUIET_BUDGET_S (60)  before each sample wait (bounded) for foreign CPU load < QUIET_PCT
#   RETRY_OTHER_PCT (15) RETRY_BUDGET (10)  re-measure samples disturbed by other tenants (bounded)
#   KEEP_RUN=1      keep the scratch dir (configs, logs, raw wrk output)
#   OUT_DIR         where results-<date>.{md,tsv} go (default: bench/)
set -Eeuo pipefail

MODE=${1:-full}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DENO=${DENO:-deno}
NCPU=$(nproc)

case "$MODE" in
  full)  : "${REPS:=3}" "${DURATION:=3}" "${WARMUP:=1}" "${INIT_WARMUP:=1}" "${DENO_INIT_WARMUP:=4}" "${WS_MSGS:=10000}" \
           "${WS_REPS:=3}" "${QUIET_BUDGET_S:=60}" "${RETRY_BUDGET:=10}" ;;
  quick) : "${REPS:=1}" "${DURATION:=2}" "${WARMUP:=1}" "${INIT_WARMUP:=1}" "${DENO_INIT_WARMUP:=2}" "${WS_MSGS:=2000}" \
           "${WS_REPS:=1}" "${QUIET_BUDGET_S:=10}" "${RETRY_BUDGET:=3}" ;;
  -h|--help|help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "usage: $0 [full|quick]" >&2; exit 2 ;;
esac
: "${CONCS:=32 256}" "${WS_CONNS:=16}" "${WS_SIZE:=128}" "${WS_WARMUP:=500}"
: "${LOADGEN_CPU:=0}" "${BACKEND_CPU:=0}" "${PROXY_CPU:=1}" "${ALL_CPUS:=0-$((NCPU - 1))}"
: "${QUIET_PCT:=20}" "${RETRY_OTHER_PCT:=15}" "${GATEWAY_PORT:=9208}"
RETRIES_LEFT=$RETRY_BUDGET
CLK=$(getconf CLK_TCK)
STAMP=$(date +%Y%m%d-%H%M%S)
if [[ -z ${OUT_DIR:-} ]]; then [[ -w $BENCH_DIR ]] && OUT_DIR=$BENCH_DIR || OUT_DIR=$PWD/bench/results; fi
SUFFIX=$([[ $MODE == quick ]] && echo "-quick" || true)
OUT_MD="$OUT_DIR/results-$STAMP$SUFFIX.md"
OUT_TSV="$OUT_DIR/results-$STAMP$SUFFIX.tsv"
T_START=$(date +%s)

# default set; also available: deno-naive-par (`deno serve --parallel`, unpinned), deno-hono-local (Hono, no proxying)
ALL_TARGETS="direct nginx-w1 nginx-auto haproxy caddy deno-naive deno-hono deno-hello deno-hello-1k deno-rawtcp-exp deno-floor"
[[ -n ${GATEWAY_CMD:-} ]] && ALL_TARGETS+=" gateway"
declare -A EXTRA_CONFIG=()
extra_port=9211
declare -A EXTRA_PORT=()
for pair in ${GATEWAY_EXTRA:-}; do
  EXTRA_CONFIG[gateway-${pair%%=*}]=${pair#*=}
  EXTRA_PORT[gateway-${pair%%=*}]=$extra_port
  extra_port=$((extra_port + 1))
  [[ -n ${GATEWAY_CMD:-} ]] && ALL_TARGETS+=" gateway-${pair%%=*}"
done
TARGETS=${TARGETS:-$ALL_TARGETS}
[[ -z ${GATEWAY_CMD:-} ]] && TARGETS=$(tr ' ' '\n' <<<"$TARGETS" | grep -vx gateway | xargs || true)
case " $TARGETS " in *" nginx-w1 "*) ;; *) TARGETS="nginx-w1 $TARGETS" ;; esac   # ratio baseline

declare -A PORT=([direct]=9101 [nginx-w1]=9201 [nginx-auto]=9202 [haproxy]=9203 [caddy]=9204
  [deno-naive]=9205 [deno-hono]=9206 [deno-hello]=9207 [deno-hello-1k]=9207 [gateway]=$GATEWAY_PORT
  [deno-naive-par]=9209 [deno-rawtcp-exp]=9210 [deno-hono-local]=9206 [deno-floor]=9220)
declare -A CPUS=([direct]=- [nginx-w1]=$PROXY_CPU [nginx-auto]=$ALL_CPUS [haproxy]=$PROXY_CPU [caddy]=$PROXY_CPU
  [deno-naive]=$PROXY_CPU [deno-hono]=$PROXY_CPU [deno-hello]=$PROXY_CPU [deno-hello-1k]=$PROXY_CPU [gateway]=$PROXY_CPU
  [deno-naive-par]=$ALL_CPUS [deno-rawtcp-exp]=$PROXY_CPU [deno-hono-local]=$PROXY_CPU [deno-floor]=$PROXY_CPU)
for t in "${!EXTRA_PORT[@]}"; do PORT[$t]=${EXTRA_PORT[$t]}; CPUS[$t]=$PROXY_CPU; done
declare -A MAINPID=()
PATH_API=/api/bench
declare -A TPATH=([deno-hello]=/hello [deno-hono-local]=/local/bench)   # request path per target (default $PATH_API)
tpath() { echo "${TPATH[$1]:-$PATH_API}"; }
WS_PORT=9103
STARTED=()        # every PID this script started (cleanup kills exactly these)
BACKEND_PID="" ; WSECHO_PID=""

HDR=(); [[ -z ${BENCH_HEADER:-} ]] || HDR=(-H "$BENCH_HEADER")
log() { printf '[%4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for t in $TARGETS; do [[ -n ${PORT[$t]:-} ]] || die "unknown target '$t' (known: ${!PORT[*]})"; done

RUN=$(mktemp -d /tmp/gwbench.XXXXXX)
chmod 755 "$RUN"; mkdir -p "$RUN/tmp" "$RUN/wrk"

cleanup() {
  local rc=$? p i
  trap - EXIT INT TERM
  local all=()
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do mapfile -t -O "${#all[@]}" all < <(tree_pids "${STARTED[$i]}"); done
  STARTED=("${all[@]}")
  ((${#STARTED[@]})) || { rm -rf "$RUN"; exit "$rc"; }
  for p in "${STARTED[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${STARTED[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break; sleep 0.1
  done
  for p in "${STARTED[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP_RUN:-0} == 1 || $rc -ne 0 ]]; then log "scratch dir kept: $RUN"; else rm -rf "$RUN"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- helpers
render() { # template out key=value...
  local tpl=$1 out=$2; shift 2
  local expr=() kv
  for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${expr[@]}" "$tpl" >"$out"
}

spawn() { # name cpus cmd... ; runs cmd pinned, in background; sets LAST_PID
  local name=$1 cpus=$2; shift 2
  if [[ $cpus == - ]]; then "$@" >"$RUN/$name.log" 2>&1 &
  else taskset -c "$cpus" "$@" >"$RUN/$name.log" 2>&1 & fi
  LAST_PID=$!; STARTED+=("$LAST_PID")
}

wait_http() { # url timeout_s [pid] -> 0 when it answers 200; fails early if pid died
  local url=$1 deadline=$(($(date +%s) + ${2:-15})) pid=${3:-} code
  while (($(date +%s) < deadline)); do
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
    code=$(curl -s "${HDR[@]}" -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null || true)
    [[ $code == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

tree_pids() { # pid -> pid and all descendants
  local p=$1 c
  [[ -d /proc/$p ]] || return 0
  echo "$p"
  for c in $(ps -o pid= --ppid "$p" 2>/dev/null || true); do tree_pids "$c"; done
}

ticks_of() { # pids... -> summed utime+stime (clock ticks)
  local total=0 p line f
  for p in "$@"; do
    line=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a f <<<"${line##*) }"       # f[0] = field 3 (state); utime = field 14 = f[11]
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

hwm_kb() { # pids... -> summed VmHWM (kB)
  local total=0 p v
  for p in "$@"; do
    v=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

reset_hwm() { local p; for p in "$@"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }

cpu_snap() { # -> "all_busy all_total all_steal lg_busy lg_total px_busy px_total"
  awk -v lg="cpu$LOADGEN_CPU" -v px="cpu$PROXY_CPU" '
    $1 ~ /^cpu[0-9]*$/ { busy = $2 + $3 + $4 + $7 + $8; tot = busy + $5 + $6 + $9
      if ($1 == "cpu") { ab = busy; at = tot; st = $9 }
      if ($1 == lg) { lb = busy; lt = tot }
      if ($1 == px) { pb = busy; pt = tot } }
    END { print ab, at, st, lb, lt, pb, pt }' /proc/stat
}

children_ticks() { # -> CHILD_TICKS: CPU ticks used by this shell's finished children (wrk, ws client, curl).
  # Must run in the main shell, not in $(...): a subshell's `times` does not see our children.
  times >"$RUN/times.out"
  CHILD_TICKS=$(awk 'NR == 2 { n = split($0, a, " "); t = 0
        for (i = 1; i <= n; i++) { split(a[i], b, "m"); sub("s", "", b[2]); t += b[1] * 60 + b[2] }
        printf "%d\n", t * '"$CLK"' + 0.5 }' "$RUN/times.out")
}
KSOFTIRQD=$(for f in /proc/[0-9]*/comm; do
  if [[ $(cat "$f" 2>/dev/null || true) == ksoftirqd/* ]]; then basename "$(dirname "$f")"; fi; done | xargs)

backend_accepts() { # new TCP conns accepted by the backend nginx (both ports share one counter)
  curl -s -m 2 "http://127.0.0.1:9101/nginx_status" | awk '/^ *[0-9]+ +[0-9]+ +[0-9]+/ {print $1; exit}'
}

QUIET_USED=0
wait_quiet() { # bounded wait until other tenants' CPU use is low (this host is shared/noisy)
  local a b waited=0
  while ((QUIET_USED < QUIET_BUDGET_S * 10)); do
    read -r -a a <<<"$(cpu_snap)"; sleep 0.15; read -r -a b <<<"$(cpu_snap)"
    local pct=$(( (b[0] - a[0]) * 100 / (b[1] - a[1] > 0 ? b[1] - a[1] : 1) ))
    ((pct < QUIET_PCT)) && break
    QUIET_USED=$((QUIET_USED + 2)); waited=$((waited + 2))
  done
  ((waited > 0)) && log "  (waited $((waited / 10)).$((waited % 10))s for other load to drop)"
  return 0
}

parse_wrk() { # file -> "rps p50_ms p99_ms requests sock_errors non2xx"
  awk 'function ms(v, n) { n = v + 0
         if (v ~ /us$/) return n / 1000; if (v ~ /ms$/) return n
         if (v ~ /m$/) return n * 60000; if (v ~ /s$/) return n * 1000; return n }
       /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
       /requests in/ { reqs = $1 } /^Requests\/sec:/ { rps = $2 }
       /Socket errors:/ { gsub(",", ""); se = $4 + $6 + $8 + $10 }
       /Non-2xx or 3xx responses:/ { n2 = $5 }
       END { if (rps == "") rps = 0; printf "%s %.3f %.3f %d %d %d\n", rps, p50, p99, reqs, se, n2 }' "$1"
}

SAMPLES="$RUN/samples.tsv"
printf 'kind\ttarget\tconc\trep\trps\tp50_ms\tp99_ms\tcpu_s\trss_kb\tlg_core_pct\tpx_core_pct\tsteal_pct\tother_pct\terrors\trequests\tupstream_conns\n' >"$SAMPLES"

# measure <kind> <target> <conc> <rep> <cmd...>: runs the load command, records proxy CPU/RSS and noise
measure() {
  local kind=$1 target=$2 conc=$3 rep=$4; shift 4
  local pid=${MAINPID[$target]:-} pids=() bpids=()
  [[ -n $pid ]] && mapfile -t pids < <(tree_pids "$pid")
  # backend + ws echo + ksoftirqd: "ours" when computing other tenants' CPU use
  mapfile -t bpids < <(tree_pids "$BACKEND_PID"; [[ -n $WSECHO_PID ]] && tree_pids "$WSECHO_PID"; tr ' ' '\n' <<<"$KSOFTIRQD")
  wait_quiet
  reset_hwm "${pids[@]}"
  local up0 t0 b0 c0 s0 up1 t1 b1 c1 s1 hwm
  up0=$(backend_accepts); t0=$(ticks_of "${pids[@]}"); b0=$(ticks_of "${bpids[@]}"); children_ticks; c0=$CHILD_TICKS
  read -r -a s0 <<<"$(cpu_snap)"
  "$@" >"$RUN/last.out" 2>&1 || log "  load command exited $? for $target (see below)"
  read -r -a s1 <<<"$(cpu_snap)"
  t1=$(ticks_of "${pids[@]}"); b1=$(ticks_of "${bpids[@]}"); children_ticks; c1=$CHILD_TICKS; up1=$(backend_accepts)
  hwm=$(hwm_kb "${pids[@]}")
  [[ -n $pid ]] || hwm=0
  local dall=$((s1[1] - s0[1])) dlg=$((s1[4] - s0[4])) dpx=$((s1[6] - s0[6]))
  ((dall > 0)) || dall=1; ((dlg > 0)) || dlg=1; ((dpx > 0)) || dpx=1
  local mine=$(((t1 - t0) + (b1 - b0) + (c1 - c0)))
  local other=$(((s1[0] - s0[0]) - mine)); ((other > 0)) || other=0
  local stats
  cp "$RUN/last.out" "$RUN/wrk/$kind-$target-c$conc-r$rep.out"
  if [[ $kind == http ]]; then
    stats=$(parse_wrk "$RUN/last.out")
  else
    # "requests" = every message the proxy relayed in the window, incl. the client's untimed warm-up
    stats=$(jq -r --argjson w "$((WS_WARMUP * WS_CONNS))" '"\(.msgs_per_s) \(.rtt_p50_ms) \(.rtt_p99_ms) \(.total_msgs + $w) \(.errors + .mismatches + (if .timed_out then 1 else 0 end)) 0"' "$RUN/last.out" 2>/dev/null ||
      echo "0 0 0 0 1 0")
  fi
  local f; read -r -a f <<<"$stats"
  local errs=$((f[4] + f[5]))
  local conns=$((up1 - up0 - 1)); ((conns >= 0)) || conns=0
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$target" "$conc" "$rep" \
    "${f[0]}" "${f[1]}" "${f[2]}" "$(awk -v t=$((t1 - t0)) -v c="$CLK" 'BEGIN{printf "%.2f", t / c}')" "$hwm" \
    $((100 * (s1[3] - s0[3]) / dlg)) $((100 * (s1[5] - s0[5]) / dpx)) $((100 * (s1[2] - s0[2]) / dall)) \
    $((100 * other / dall)) "$errs" "${f[3]}" "$conns" >"$RUN/row.tsv"
  LAST_OTHER=$((100 * other / dall))
  log "  $kind $(printf '%-15s' "$target") c=$conc rep=$rep  rate=${f[0]}  p50=${f[1]}ms p99=${f[2]}ms" \
      "cpu=$(((t1 - t0)))t rss=$((hwm / 1024))MiB err=$errs other=$((100 * other / dall))% upconns=$conns"
  ((errs == 0)) || { log "  !! errors in sample; load output:"; sed 's/^/     /' "$RUN/last.out" >&2; }
}

wrk_cmd() { # conc duration url [--latency] -> WRK array (pinned, hard-bounded wrk command)
  WRK=(taskset -c "$LOADGEN_CPU" timeout $(($2 + 30)) wrk -t1 -c"$1" -d"$2"s --timeout 5s "${HDR[@]}" "$3")
  [[ -z ${4:-} ]] || WRK+=("$4")
}

# run_sample <http|ws> <target> <conc> <rep>: warm-up + measure; a sample during which other tenants
# used >= RETRY_OTHER_PCT % of the machine is re-measured (bounded by RETRY_BUDGET per run)
REJECTED="$RUN/rejected.tsv"; : >"$REJECTED"
run_sample() {
  local kind=$1 t=$2 conc=$3 rep=$4 try url port
  for try in 1 2 3; do
    if [[ $kind == http ]]; then
      url="http://127.0.0.1:${PORT[$t]}$(tpath "$t")"
      if ((WARMUP > 0)); then wrk_cmd "$conc" "$WARMUP" "$url"; "${WRK[@]}" >/dev/null 2>&1 || true; fi
      wrk_cmd "$conc" "$DURATION" "$url" --latency
      measure http "$t" "$conc" "$rep" "${WRK[@]}"
    else
      port=$([[ $t == direct ]] && echo $WS_PORT || echo "${PORT[$t]}")
      measure ws "$t" "$conc" "$rep" taskset -c "$LOADGEN_CPU" timeout $((WS_TIMEOUT + 10)) \
        "$DENO" run --no-config --no-lock --allow-net=127.0.0.1 "$BENCH_DIR/deno/ws_client.ts" \
        --url="ws://127.0.0.1:$port/ws" --conns="$conc" --msgs="$WS_MSGS" --size="$WS_SIZE" \
        --warmup="$WS_WARMUP" --timeout="$WS_TIMEOUT"
    fi
    if ((LAST_OTHER >= RETRY_OTHER_PCT && RETRIES_LEFT > 0 && try < 3)); then
      RETRIES_LEFT=$((RETRIES_LEFT - 1)); cat "$RUN/row.tsv" >>"$REJECTED"
      log "  -> other tenants used ${LAST_OTHER}% of the CPUs during that sample: re-measuring ($RETRIES_LEFT retries left)"
      continue
    fi
    cat "$RUN/row.tsv" >>"$SAMPLES"; return 0
  done
}

# ---------------------------------------------------------------- preflight
for bin in nginx haproxy caddy wrk "$DENO" curl jq taskset ss awk; do
  command -v "$bin" >/dev/null || die "missing tool: $bin"
done
for p in 9101 9102 9103 $(for t in $TARGETS; do echo "${PORT[$t]}"; done); do
  ss -Hltn "sport = :$p" | grep -q . && die "port $p already in use (another run still alive?)"
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"   # hard limit here is 20000
DENO_RUN=("$DENO" run --no-config --no-lock --allow-net=127.0.0.1 --allow-env --allow-read)
"$DENO" cache --no-config --no-lock "$BENCH_DIR/deno/hono_proxy.ts" >/dev/null 2>&1 ||
  die "cannot cache npm:hono (needs the npm registry once): deno cache $BENCH_DIR/deno/hono_proxy.ts"
log "mode=$MODE reps=$REPS duration=${DURATION}s warmup=${WARMUP}s concs='$CONCS' targets='$TARGETS' scratch=$RUN"

# ---------------------------------------------------------------- start backends
printf "return 200 '%s';\n" "$(cat "$BENCH_DIR/conf/body.json")" >"$RUN/body_return.conf"
render "$BENCH_DIR/conf/backend-nginx.conf" "$RUN/backend.conf" RUN="$RUN" BODY_INC="$RUN/body_return.conf"
spawn backend "$BACKEND_CPU" nginx -p "$RUN" -e "$RUN/backend.err" -c "$RUN/backend.conf"
BACKEND_PID=$LAST_PID
spawn ws-echo "$BACKEND_CPU" env PORT=$WS_PORT "${DENO_RUN[@]}" "$BENCH_DIR/deno/ws_echo.ts"
WSECHO_PID=$LAST_PID
wait_http "http://127.0.0.1:9101$PATH_API" 10 || die "backend 9101 not up: $(cat "$RUN/backend.log" "$RUN/backend.err" 2>/dev/null)"
wait_http "http://127.0.0.1:9102$PATH_API" 10 || die "backend 9102 not up"
wait_http "http://127.0.0.1:$WS_PORT/" 15 || die "ws echo not up: $(cat "$RUN/ws-echo.log")"

# ---------------------------------------------------------------- start proxies
start_target() {
  local t=$1 port=${PORT[$1]} cpus=${CPUS[$1]}
  case $t in
    direct) return 0 ;;
    nginx-w1|nginx-auto)
      render "$BENCH_DIR/conf/nginx-proxy.conf" "$RUN/$t.conf" RUN="$RUN" NAME="$t" PORT="$port" \
        WORKERS="$([[ $t == nginx-w1 ]] && echo 1 || echo auto)"
      spawn "$t" "$cpus" nginx -p "$RUN" -e "$RUN/$t.err" -c "$RUN/$t.conf" ;;
    haproxy)
      render "$BENCH_DIR/conf/haproxy.cfg" "$RUN/haproxy.cfg" PORT="$port" THREADS=1
      spawn "$t" "$cpus" haproxy -db -f "$RUN/haproxy.cfg" ;;
    caddy)
      render "$BENCH_DIR/conf/Caddyfile" "$RUN/Caddyfile" PORT="$port"
      mkdir -p "$RUN/caddy-home"
      spawn "$t" "$cpus" env HOME="$RUN/caddy-home" XDG_DATA_HOME="$RUN/caddy-home" XDG_CONFIG_HOME="$RUN/caddy-home" \
        caddy run --config "$RUN/Caddyfile" --adapter caddyfile ;;
    deno-naive) spawn "$t" "$cpus" env PORT="$port" "${DENO_RUN[@]}" "$BENCH_DIR/deno/naive_proxy.ts" ;;
    deno-naive-par)   # same code, `deno serve --parallel`: one isolate per CPU, SO_REUSEPORT
      spawn "$t" "$cpus" env DENO_JOBS="$NCPU" "$DENO" serve --parallel --no-config --no-lock \
        --allow-net=127.0.0.1 --allow-env --host 127.0.0.1 --port "$port" "$BENCH_DIR/deno/naive_proxy_serve.ts" ;;
    deno-rawtcp-exp) spawn "$t" "$cpus" env PORT="$port" "${DENO_RUN[@]}" "$BENCH_DIR/deno/exp_rawtcp_proxy.ts" ;;
    deno-floor) spawn "$t" "$cpus" env PORT="$port" "${DENO_RUN[@]}" "$BENCH_DIR/deno/floor_proxy.ts" ;;   # Kairos addition
    deno-hono|deno-hono-local)   # one hono_proxy.ts process serves both
      for o in deno-hono deno-hono-local; do [[ -n ${MAINPID[$o]:-} ]] && { MAINPID[$t]=${MAINPID[$o]}; return 0; }; done
      spawn deno-hono "$cpus" env PORT="$port" BODY_FILE="$BENCH_DIR/conf/body.json" "${DENO_RUN[@]}" "$BENCH_DIR/deno/hono_proxy.ts" ;;
    deno-hello|deno-hello-1k)   # one hello.ts process serves both: /hello -> "hello", else the 1 KiB body
      for o in deno-hello deno-hello-1k; do [[ -n ${MAINPID[$o]:-} ]] && { MAINPID[$t]=${MAINPID[$o]}; return 0; }; done
      spawn deno-hello "$cpus" env PORT="$port" BODY_FILE="$BENCH_DIR/conf/body.json" "${DENO_RUN[@]}" "$BENCH_DIR/deno/hello.ts" ;;
    gateway)
      if [[ -z ${GATEWAY_CONFIG:-} ]]; then
        GATEWAY_CONFIG="$RUN/gateway.json"
        jq 'del(._comment)' "$BENCH_DIR/conf/gateway.example.json" >"$GATEWAY_CONFIG"
      fi
      spawn "$t" "$cpus" env GATEWAY_CONFIG="$GATEWAY_CONFIG" GATEWAY_PORT="$port" bash -c "$GATEWAY_CMD" ;;
    gateway-*)
      spawn "$t" "$cpus" env GATEWAY_CONFIG="${EXTRA_CONFIG[$t]}" GATEWAY_PORT="$port" bash -c "$GATEWAY_CMD" ;;
    *) die "unknown target $t" ;;
  esac
  MAINPID[$t]=$LAST_PID
}
for t in $TARGETS; do start_target "$t"; done
for t in $TARGETS; do
  wait_http "http://127.0.0.1:${PORT[$t]}$(tpath "$t")" 30 "${MAINPID[$t]:-}" ||
    die "$t did not answer 200 on :${PORT[$t]}$(tpath "$t"): $(tail -5 "$RUN/$t.log" 2>/dev/null)"
done
log "all targets up"

# ---------------------------------------------------------------- sanity: framing + round robin
SANITY="$RUN/sanity.tsv"
printf 'target\tstatus\tframing\tbody_bytes\tbackends_seen\tserver\tpids\n' >"$SANITY"
for t in $TARGETS; do
  seen="" status="" framing="" bytes="" server=""
  for i in 1 2 3 4; do
    hdr=$(curl -s "${HDR[@]}" -D - -o "$RUN/body.out" -m 5 "http://127.0.0.1:${PORT[$t]}$(tpath "$t")" | tr -d '\r')
    status=$(awk 'NR == 1 {print $2}' <<<"$hdr")
    xb=$(awk -F': ' 'tolower($1) == "x-backend" {print $2}' <<<"$hdr"); seen+="${xb:--} "
    if grep -qi '^transfer-encoding: *chunked' <<<"$hdr"; then framing=chunked
    elif grep -qi '^content-length:' <<<"$hdr"; then framing=content-length; else framing=close-delimited; fi
    server=$(awk -F': ' 'tolower($1) == "server" {print $2}' <<<"$hdr" | paste -sd, -)   # caddy sends two
    bytes=$(stat -c %s "$RUN/body.out")
  done
  [[ $(tpath "$t") != "$PATH_API" ]] || cmp -s "$RUN/body.out" "$BENCH_DIR/conf/body.json" ||
    log "WARNING: $t body differs from backend body"
  np=0; [[ -n ${MAINPID[$t]:-} ]] && np=$(tree_pids "${MAINPID[$t]}" | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$status" "$framing" "$bytes" "$(xargs <<<"$seen")" "${server:--}" "$np" >>"$SANITY"
done
column -t -s $'\t' "$SANITY" >&2

# ---------------------------------------------------------------- initial warm-up (JIT, pools)
for t in $TARGETS; do   # V8 needs several seconds of load before its tiers settle; native servers do not
  w=$INIT_WARMUP; [[ $t == deno-* || $t == gateway* ]] && w=$DENO_INIT_WARMUP
  wrk_cmd 64 "$w" "http://127.0.0.1:${PORT[$t]}$(tpath "$t")"; "${WRK[@]}" >/dev/null 2>&1 || true
done
log "warm-up done"

# ---------------------------------------------------------------- HTTP: interleaved repetitions
read -r -a TLIST <<<"$TARGETS"
NT=${#TLIST[@]}
for rep in $(seq 1 "$REPS"); do
  for conc in $CONCS; do
    for ((k = 0; k < NT; k++)); do
      run_sample http "${TLIST[$(((k + rep - 1) % NT))]}" "$conc" "$rep"    # start rotates per repetition
    done
  done
done

# ---------------------------------------------------------------- WebSocket echo round trips
if [[ -z ${WS_TARGETS:-} ]]; then
  WS_TARGETS="direct"
  for t in deno-naive nginx-w1 gateway; do
    case " $TARGETS " in *" $t "*) [[ $t == gateway && ${GATEWAY_WS:-1} == 0 ]] || WS_TARGETS+=" $t" ;; esac
  done
fi
WS_TIMEOUT=$((WS_MSGS / 100 + 60))   # per client run; the client also exits by itself
for rep in $(seq 1 "$WS_REPS"); do
  for t in $WS_TARGETS; do run_sample ws "$t" "$WS_CONNS" "$rep"; done
done

# ---------------------------------------------------------------- report
META="$RUN/meta.json"
jq -n --arg mode "$MODE" --arg stamp "$STAMP" --arg reps "$REPS" --arg dur "$DURATION" --arg warm "$WARMUP" \
  --arg concs "$CONCS" --arg targets "$TARGETS" --arg lg "$LOADGEN_CPU" --arg be "$BACKEND_CPU" --arg px "$PROXY_CPU" \
  --arg all "$ALL_CPUS" --arg wsmsgs "$WS_MSGS" --arg wsconns "$WS_CONNS" --arg wssize "$WS_SIZE" --arg wsreps "$WS_REPS" \
  --arg cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" --arg ncpu "$NCPU" --arg kernel "$(uname -r)" \
  --arg deno "$("$DENO" --version | sed -n 1p)" --arg nginx "$(nginx -v 2>&1)" \
  --arg haproxy "$(haproxy -v | sed -n 1p)" --arg caddy "$(caddy version)" --arg wrk "$({ wrk -v 2>&1 || true; } | sed -n 1p)" \
  --arg hono "4.13.19" --arg gw "${GATEWAY_CMD:-}" --arg elapsed "$(($(date +%s) - T_START))" \
  --arg quiet "$((QUIET_USED / 10))" --arg retried "$(wc -l <"$REJECTED")" --arg retrypct "$RETRY_OTHER_PCT" \
  '{mode:$mode, stamp:$stamp, reps:$reps, duration_s:$dur, warmup_s:$warm, concs:$concs, targets:$targets,
    loadgen_cpu:$lg, backend_cpu:$be, proxy_cpu:$px, all_cpus:$all, ws_msgs:$wsmsgs, ws_conns:$wsconns,
    ws_size:$wssize, ws_reps:$wsreps, cpu:$cpu, ncpu:$ncpu, kernel:$kernel, deno:$deno, nginx:$nginx,
    haproxy:$haproxy, caddy:$caddy, wrk:$wrk, hono:$hono, gateway_cmd:$gw, elapsed_s:$elapsed, quiet_wait_s:$quiet,
    retried:$retried, retry_pct:$retrypct}' >"$META"
mkdir -p "$OUT_DIR"
cp "$SAMPLES" "$OUT_TSV"
"$DENO" run --no-config --no-lock --allow-read --allow-write "$BENCH_DIR/deno/report.ts" \
  "$SAMPLES" "$SANITY" "$META" "$OUT_MD" "$(basename "$OUT_TSV")"
log "done in $(($(date +%s) - T_START))s -> $OUT_MD"
