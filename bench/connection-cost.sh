#!/usr/bin/env bash
# What one tunnelled connection costs each process: CPU (user and system) per connection and per
# thread, context switches and, with strace, system calls, while a client opens connections one
# after another through one gateway and one agent as users run them (docs/benchmarks.md, set 11).
#
#   bench/connection-cost.sh [CONNECTIONS] [WARM_UP]      (defaults: 5000 and 3000)
#   STRACE=1 bench/connection-cost.sh                     (then N more connections under strace,
#                                                          counting system calls)
#
# Each connection is the peer benchmark's: connect, send one byte, receive its echo, close. The
# first WARM_UP connections are not measured (the JIT's warm-up; compare 0 with 3000 to see it).
# Path: client -> gateway endpoint port => one HTTP/2 stream of the agent link (TLS 1.3, loopback)
# => agent -> an echo server. Needs python3; STRACE=1 needs strace and the right to trace.
set -euo pipefail

N=${1:-5000}
WARM=${2:-3000}
run=$(mktemp -d /tmp/underpass-connection-cost.XXXXXX)
. "$(dirname "${BASH_SOURCE[0]}")/topology.sh"
start_topology
log "gateway PID $gateway, agent PID $agent; $WARM connections to warm up, then $N measured"

# connections COUNT: opens COUNT connections one after another; prints their rate and cycle times.
connections() {
    python3 - "$endpoint_port" "$1" <<'EOF'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
cycles, start = [], time.monotonic()
for i in range(n):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10); s.sendall(b"c")
    if s.recv(1) != b"c": sys.exit(f"connection {i}: no echo")
    s.close(); cycles.append((time.perf_counter() - t0) * 1e6)
    if time.monotonic() - start > 600: sys.exit(f"stopped after {i + 1} connections and 600 s")
took = time.monotonic() - start; cycles.sort()
print(f"{n} connections in {took:.1f} s: {n / took:.0f}/s; cycle p50 {cycles[n // 2]:.0f} us, "
      f"p99 {cycles[int(n * 0.99)]:.0f} us")
EOF
}

# threads PID: one line per thread: name, user and system clock ticks, context switches.
threads() {
    local t
    for t in /proc/"$1"/task/*; do
        awk -v name="$(tr ' ' _ <"$t/comm")" -v cs="$(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")" \
            '{sub(/^.*\) /, ""); print name, $12, $13, cs}' "$t/stat" 2>/dev/null || true
    done
}

if (( WARM > 0 )); then
    connections "$WARM" | sed 's/^/  warm-up: /'
fi
threads "$gateway" >"$run/gateway.before"
threads "$agent" >"$run/agent.before"
connections "$N" | sed 's/^/  measured: /'
threads "$gateway" >"$run/gateway.after"
threads "$agent" >"$run/agent.after"
if [[ ${STRACE:-0} == 1 ]]; then
    # Another N connections under strace, for the counts only: tracing slows every call.
    tracers=()
    strace -c -f -p "$gateway" -o "$run/gateway.strace" 2>/dev/null & tracers+=($!)
    strace -c -f -p "$agent" -o "$run/agent.strace" 2>/dev/null & tracers+=($!)
    sleep 1 # attached to every thread
    connections "$N" | sed 's/^/  traced: /'
    for t in "${tracers[@]}"; do kill -INT "$t"; wait "$t" 2>/dev/null || true; done
fi

python3 - "$run" "$N" "${STRACE:-0}" <<'EOF'
import collections, os, sys
run, n, traced = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
for side in ("gateway", "agent"):
    def read(f):
        d = collections.defaultdict(lambda: [0, 0, 0])
        for line in open(f"{run}/{side}.{f}"):
            name, u, s, cs = line.split()
            for i, v in enumerate((u, s, cs)): d[name][i] += int(v)
        return d
    a, b = read("before"), read("after")
    rows = sorted(((k, [b[k][i] - a.get(k, [0, 0, 0])[i] for i in range(3)]) for k in b), key=lambda r: -(r[1][0] + r[1][1]))
    user = sum(r[1][0] for r in rows) * tick_ms / n; system = sum(r[1][1] for r in rows) * tick_ms / n
    switches = sum(r[1][2] for r in rows) / n
    print(f"{side}: {user + system:.2f} ms CPU per connection ({user:.2f} user, {system:.2f} system), "
          f"{switches:.1f} context switches")
    for name, (u, s, cs) in rows[:5]:
        if u + s: print(f"  {name:28s} {(u + s) * tick_ms / n:.3f} ms")
    if traced:
        calls = {}
        for line in open(f"{run}/{side}.strace"):
            p = line.split()
            if len(p) >= 5 and p[3].isdigit() and p[-1] != "total": calls[p[-1]] = int(p[3])
        total = sum(calls.values())
        print(f"  system calls per connection: {total / n:.1f} (" + ", ".join(
            f"{k} {v / n:.1f}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:10]) + ")")
EOF
log "logs in $run"
