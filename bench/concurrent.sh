#!/usr/bin/env bash
# Holds many tunnelled connections open at once through one gateway and one agent, as users run
# them (./underpass, the launcher's JVM defaults, INFO logging, audit and metrics on), and reports
# whether both stay up, their memory per connection and their heap.
#
#   bench/concurrent.sh [CONNECTIONS] [HOLD_SECS]      (defaults: 10000 and 30)
#
# Path of each connection: client -> gateway endpoint port => one HTTP/2 stream of the agent link
# (TLS 1.3, loopback) => agent -> an echo server. Every connection is checked twice with a one-byte
# echo: right after it opens, and again after all are open and held for HOLD_SECS.
# The limits an operator raises for this many connections of one account on one agent are set in
# the gateway's file (limits.connectionsPerConsumer, limits.streamsPerAgent; defaults 4096, 10000).
# Needs python3; raises the open-file limit of this shell (root or a high hard limit).
set -euo pipefail

N=${1:-10000}
HOLD=${2:-30}
run=$(mktemp -d /tmp/underpass-concurrent.XXXXXX)
# The limits an operator raises for this many connections of one account on one agent.
GATEWAY_EXTRA="limits:
  connectionsPerConsumer: $((N + 1000))
  streamsPerAgent: $((N + 1000))"
. "$(dirname "${BASH_SOURCE[0]}")/topology.sh"

ulimit -n $((N * 2 + 4096)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > N + 1024 )) || { log "open-file limit $(ulimit -n) is too low for $N connections"; exit 2; }

start_topology
log "gateway PID $gateway, agent PID $agent; opening $N connections through 127.0.0.1:$endpoint_port"
set +e
python3 - "$endpoint_port" "$N" "$HOLD" "$gateway" "$agent" <<'EOF'
import json, os, socket, subprocess, sys, time
port, n, hold, gateway, agent = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
OPEN_SECS = 600

def memory(pid):
    """Resident memory now and at its peak (MB), and the heap used after a full GC (MB), of one process."""
    status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
    rss = int(status["VmRSS"].split()[0]) / 1024; hwm = int(status["VmHWM"].split()[0]) / 1024
    heap = None
    try:
        jcmd = os.readlink(f"/proc/{pid}/exe").replace("/bin/java", "/bin/jcmd")
        subprocess.run([jcmd, pid, "GC.run"], capture_output=True, timeout=60)
        out = subprocess.run([jcmd, pid, "GC.heap_info"], capture_output=True, text=True, timeout=60).stdout
        # The serial collector's generations (DefNew and Tenured lines): used after the full GC above.
        used = [int(l.split("used")[1].split("K")[0].strip()) for l in out.splitlines() if "total" in l and "used" in l]
        heap = sum(used) / 1024 if used else None
    except Exception as e:
        print("jcmd failed:", e, file=sys.stderr)
    return {"rss_mb": round(rss, 1), "peak_rss_mb": round(hwm, 1), "heap_used_mb": heap and round(heap, 1)}

def alive(pid):
    try: open(f"/proc/{pid}/status").close(); return True
    except OSError: return False

def echo(s):
    s.sendall(b"x")
    return s.recv(1) == b"x"

before = {"gateway": memory(gateway), "agent": memory(agent)}
conns, failed, start = [], 0, time.monotonic()
for i in range(n):
    if time.monotonic() - start > OPEN_SECS:
        print(f"stopped opening after {OPEN_SECS} s", file=sys.stderr); break
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.settimeout(10)
        if echo(s): conns.append(s)
        else: failed += 1; s.close()
    except OSError as e:
        failed += 1
        if failed > 100 and not conns: sys.exit(f"no connection works: {e}")
    if (i + 1) % 1000 == 0:
        print(f"  {i + 1}/{n} opened ({failed} failed), {time.monotonic() - start:.0f} s", flush=True)
opened = time.monotonic() - start
print(f"  holding {len(conns)} connections for {hold} s", flush=True)
time.sleep(hold)
held = {"gateway": memory(gateway), "agent": memory(agent)}
ok_again = 0
for s in conns:
    try: ok_again += echo(s)
    except OSError: pass
for s in conns: s.close()
per = lambda side: round((held[side]["rss_mb"] - before[side]["rss_mb"]) * 1024 / max(len(conns), 1), 1)
print(json.dumps({
    "connections": n, "opened": len(conns), "failed": failed, "open_secs": round(opened, 1),
    "echo_after_hold": ok_again, "gateway_up": alive(gateway), "agent_up": alive(agent),
    "before": before, "held": held,
    "rss_kb_per_connection": {"gateway": per("gateway"), "agent": per("agent")}}, indent=1))
sys.exit(0 if ok_again == n and alive(gateway) and alive(agent) else 1)
EOF
status=$?
log "logs in $run"
exit $status
