#!/bin/bash
# bench/million.sh - a million idle connections against ioserve (issue 11), or as many as this
# machine allows and the extrapolation from them.
#
# usage: bench/million.sh [BUILD_DIR]        (as root to raise the limits; default build/)
# env:   CONNS (1000000), BACKEND (uring | epoll-lt | epoll-et; uring), PER_CLIENT (connections
#        per ioload process, 50000), EVERY (seconds between a connection's requests, 60),
#        HOLD_SECONDS (how long the sparse requests run, 120)
#
# What it does: raises fs.nr_open, fs.file-max and RLIMIT_NOFILE to what CONNS needs (the
# server holds one descriptor per connection, each ioload process one per connection of its
# own), widens net.ipv4.ip_local_port_range and the listen backlogs, starts one ioserve thread
# with a keep-alive timeout longer than the run, then ceil(CONNS / PER_CLIENT) ioload --hold
# processes, each from its own loopback source addresses (--first-source), so no source runs
# out of ports.  Each connection gets one answer, then sends one request every EVERY seconds
# for SECONDS.  Reported: the time to connect and answer all (the slowest client), the server's
# resident memory per connection (its peak, VmHWM, over what it held before), the kernel's slab
# memory per connection (peak over before, both ends of every connection), and the sparse
# requests' answers, errors and latency (the worst client's percentiles).  Where a limit (the
# hard RLIMIT_NOFILE that root cannot raise in a container, memory) keeps CONNS out of reach,
# it says which, runs the largest count that fits, and prints the extrapolation to CONNS.
# Settings it changed are restored at exit.
set -u

BUILD=${1:-build}
CONNS=${CONNS:-1000000}
BACKEND=${BACKEND:-uring}
PER_CLIENT=${PER_CLIENT:-50000}
EVERY=${EVERY:-60}
SECONDS_RUN=${HOLD_SECONDS:-120}
SPARE=256                 # descriptors a process needs besides its connections
KERNEL_PER_CONN=12000     # bytes of kernel memory per loopback connection, both ends (slab, measured)
SERVER=$BUILD/src/ioserve
IOLOAD=$BUILD/bench/ioload
TMP=$(mktemp -d /tmp/million.XXXXXX)
declare -A RESTORE=()

say() { echo "million: $*" >&2; }

for exe in "$SERVER" "$IOLOAD"; do
    [ -x "$exe" ] || { say "no $exe: build first (make build)"; exit 1; }
done

set_sysctl() { # key value: raise a kernel setting to value, remember the old one
    local key=$1 value=$2 old
    old=$(sysctl -n "$key" 2>/dev/null) || { say "$key: unreadable"; return; }
    [ "$old" = "$value" ] && return
    # a single number is a floor: a machine already above it keeps its own
    [[ "$value" =~ ^[0-9]+$ && "$old" =~ ^[0-9]+$ ]] && [ "$old" -ge "$value" ] && return
    if sysctl -q -w "$key=$value" 2>/dev/null; then
        RESTORE[$key]=$old
        say "$key: $old -> $value (restored at exit)"
    else
        say "$key = $old: could not set $value"
    fi
}

restore() {
    for key in "${!RESTORE[@]}"; do
        sysctl -q -w "$key=${RESTORE[$key]}" 2>/dev/null && say "$key restored to ${RESTORE[$key]}"
    done
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap restore EXIT

# ---- limits: what CONNS needs, and what this machine gives ----
need=$((CONNS + SPARE))
set_sysctl fs.nr_open $((need > 1048576 ? need : 1048576))
set_sysctl fs.file-max $((2 * CONNS + 65536 > 1000000 ? 2 * CONNS + 65536 : 1000000))
set_sysctl net.ipv4.ip_local_port_range "1024 65535"
set_sysctl net.core.somaxconn 65535
set_sysctl net.ipv4.tcp_max_syn_backlog 65535
ulimit -Hn "$need" 2>/dev/null
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
hard=$(ulimit -Hn)
reasons=()
fit=$CONNS
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
    fit=$((hard - SPARE))
    reasons+=("the hard open-files limit is $hard and could not be raised (a container without CAP_SYS_RESOURCE, or fs.nr_open): the server holds at most $fit connections")
fi
avail_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
by_memory=$((avail_kb * 1024 / 2 / KERNEL_PER_CONN))  # half of what is free, at the kernel's cost
if [ "$by_memory" -lt "$fit" ]; then
    fit=$by_memory
    reasons+=("$((avail_kb / 1024)) MiB available holds about $by_memory connections at ${KERNEL_PER_CONN} bytes of kernel memory each (half of it, to leave the rest)")
fi
[ "$fit" -lt 1000 ] && { say "only $fit connections fit here: nothing to measure"; exit 1; }
per_client=$PER_CLIENT
[ "$hard" != unlimited ] && [ $((hard - SPARE)) -lt "$per_client" ] && per_client=$((hard - SPARE))
[ "$per_client" -gt "$fit" ] && per_client=$fit
clients=$(((fit + per_client - 1) / per_client))
range=$(sysctl -n net.ipv4.ip_local_port_range | awk '{print $2 - $1 - 1000}')
slots_per_client=$(((per_client + range - 1) / range))
if [ "$fit" -lt "$CONNS" ]; then
    say "$CONNS connections do not fit here:"
    for r in "${reasons[@]}"; do say "  - $r"; done
    say "running $fit instead, and extrapolating"
fi
say "$fit connections: $clients ioload processes of up to $per_client, $range per loopback source"

# ---- the server: one thread, keep-alive longer than the run ----
case $BACKEND in
    uring) backend_args=(--backend uring) ;;
    epoll-lt) backend_args=(--backend epoll --epoll-mode lt) ;;
    epoll-et) backend_args=(--backend epoll --epoll-mode et) ;;
    *) say "BACKEND: uring, epoll-lt or epoll-et"; exit 2 ;;
esac
"$SERVER" --listen 127.0.0.1:0 --threads 1 "${backend_args[@]}" \
    --keepalive-timeout-ms $(((EVERY * 2 + SECONDS_RUN + 600) * 1000)) 2>"$TMP/server.err" &
SERVER_PID=$!
port=
for _ in $(seq 100); do
    port=$(grep -o 'on 127.0.0.1:[0-9]*' "$TMP/server.err" | head -1 | cut -d: -f2)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { say "ioserve did not start: $(cat "$TMP/server.err")"; exit 1; }
slab() { awk 'NR > 2 {s += $2 * $4} END {printf "%.0f", s}' /proc/slabinfo 2>/dev/null || echo -1; }
rss_before=$(awk '/VmRSS/ {print $2 * 1024}' "/proc/$SERVER_PID/status")
slab_before=$(slab)

# ---- the clients, and the kernel's peak while they hold ----
pids=()
left=$fit
for ((k = 0; k < clients; k++)); do
    n=$((left < per_client ? left : per_client))
    left=$((left - n))
    "$IOLOAD" --hold "$n" --first-source $((k * slots_per_client)) --conns-per-source "$range" \
        --every "$EVERY" -d "$SECONDS_RUN" --timeout-ms 10000 --path /plaintext --json \
        "127.0.0.1:$port" >"$TMP/client$k.json" 2>"$TMP/client$k.err" &
    pids+=($!)
done
any_alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
slab_peak=$slab_before
while any_alive "${pids[@]}"; do
    now=$(slab)
    [ "$now" -gt "$slab_peak" ] && slab_peak=$now
    sleep 1
done
failed=0
for ((k = 0; k < clients; k++)); do
    wait "${pids[$k]}" || { failed=1; say "client $k failed: $(tail -1 "$TMP/client$k.err")"; }
done
rss_peak=$(awk '/VmHWM/ {print $2 * 1024}' "/proc/$SERVER_PID/status")
[ "$failed" = 0 ] || exit 1

# ---- the report, and the extrapolation ----
python3 - "$TMP" "$clients" "$fit" "$CONNS" "$rss_before" "$rss_peak" "$slab_before" "$slab_peak" \
    "$BACKEND" <<'EOF'
import glob, json, sys
tmp, clients, fit, want, rss0, rss1, slab0, slab1, backend = sys.argv[1:]
fit, want = int(fit), int(want)
runs = [json.load(open(f)) for f in sorted(glob.glob(tmp + "/client*.json"))]
connect = max(r["connect_s"] + r["first_requests"]["seconds"] for r in runs)
answered = sum(r["first_requests"]["answered"] for r in runs)
sparse = [r["sparse"] for r in runs]
sent, ok, errors = (sum(s[k] for s in sparse) for k in ("sent", "answered", "errors"))
lost = sum(r["lost"] for r in runs)
worst = {k: max(s["latency_us"][k] for s in sparse) for k in ("p50", "p99", "p99_9", "max")}
server = (int(rss1) - int(rss0)) / fit
kernel = (int(slab1) - int(slab0)) / fit if int(slab0) >= 0 else None
print("million: %s, %d connections over %s ioload processes" % (backend, fit, clients))
print("  connected and answered once in %.1f s (slowest client): %d answered, %d lost" % (connect, answered, lost))
print("  server resident memory: %.0f bytes per connection (peak %.1f MiB)" % (server, int(rss1) / 2**20))
if kernel is not None:
    print("  kernel slab memory: %.0f bytes per connection, both ends" % kernel)
print("  sparse requests: %d sent, %d answered, %d errors; worst client p50 %.0f us, p99 %.0f us, "
      "p99.9 %.0f us, max %.0f us" % (sent, ok, errors, worst["p50"], worst["p99"], worst["p99_9"], worst["max"]))
if fit < want:
    scale = want / fit
    print("  extrapolated to %d connections (linear from %d): server %.0f MiB, kernel %s, "
          "connect all in about %.0f s at this rate" % (
              want, fit, server * want / 2**20,
              "%.1f GiB" % (kernel * want / 2**30) if kernel is not None else "unknown",
              connect * scale))
EOF
