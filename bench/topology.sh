# One gateway, one agent and an echo server on loopback, started as users run them (./underpass,
# the launcher's JVM defaults, INFO logging, audit and metrics on), for the scripts in bench/.
# Sourced, not run. The caller sets `run` (a fresh directory for files and logs) and may set
# GATEWAY_EXTRA (more lines for the gateway's file); start_topology then sets `gateway` and `agent`
# (PIDs) and `endpoint_port`, and every process it starts is in `pids`, stopped on exit.
# Needs python3.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
launcher=$repo/underpass
pids=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
stop_topology() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_topology EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for SECS WHAT COMMAND...: runs COMMAND until it succeeds, at most SECS seconds.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || { log "$what not ready after $1 s (logs in $run)"; exit 1; }
        sleep 0.2
    done
}

start_topology() {
    log "building (if needed) and starting in $run"
    "$launcher" --version >"$run/build.log" 2>&1 || { log "build failed, see $run/build.log"; exit 1; }

    local echo_port agent_port api
    echo_port=$(free_port)
    python3 - "$echo_port" >"$run/echo.log" 2>&1 <<'EOF' &
# Echo server: echoes every byte back, holds connections until the peer closes.
import selectors, socket, sys
sel = selectors.DefaultSelector()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(4096); ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is ls:
            for _ in range(512):
                try: c, _a = ls.accept()
                except (BlockingIOError, InterruptedError): break
                c.setblocking(False); sel.register(c, selectors.EVENT_READ)
            continue
        try: data = s.recv(65536)
        except (BlockingIOError, InterruptedError): continue
        except OSError: data = b""
        if not data:
            sel.unregister(s); s.close(); continue
        try: s.sendall(data)
        except OSError: sel.unregister(s); s.close()
EOF
    pids+=($!)

    agent_port=$(free_port)
    endpoint_port=$(free_port)
    mkdir -p "$run/data"
    cat >"$run/gateway.yaml" <<EOF
agentListen: 127.0.0.1:$agent_port
apiListen: 127.0.0.1:0
proxyListen: 127.0.0.1:0
sniListen: 127.0.0.1:0
metricsListen: 127.0.0.1:0
endpointBind: 127.0.0.1
endpointPorts: $endpoint_port-$endpoint_port
${GATEWAY_EXTRA:-}
EOF
    "$launcher" gateway --config "$run/gateway.yaml" --data-dir "$run/data" >"$run/gateway.log" 2>&1 &
    gateway=$!
    pids+=("$gateway")
    api_port() { sed -n 's/.*api listening on .*:\([0-9]*\) .*/\1/p' "$run/gateway.log" | tail -n 1 | grep .; }
    wait_for 60 "the gateway's API" api_port
    api=$(api_port)

    cli() { UNDERPASS_CONFIG_DIR=$run/cli "$launcher" "$@" >>"$run/cli.log" 2>&1; }
    cli login --gateway "https://localhost:$api" --ca-file "$run/data/tls/ca.pem" --key-file "$run/data/admin-key"
    cli account create bench --out "$run/bench.key"
    UNDERPASS_API_KEY=$(cat "$run/bench.key") cli agent-token create bench --out "$run/agent.token"
    UNDERPASS_API_KEY=$(cat "$run/bench.key") cli service create echo --listener "7=127.0.0.1:$echo_port" \
        --acceptance-required=false
    UNDERPASS_API_KEY=$(cat "$run/bench.key") cli endpoint create bench/echo

    "$launcher" agent --gateway "localhost:$agent_port" --token-file "$run/agent.token" \
        --ca-file "$run/data/tls/ca.pem" --name bench --target "127.0.0.1:$echo_port" >"$run/agent.log" 2>&1 &
    agent=$!
    pids+=("$agent")
    wait_for 60 "the agent's session" grep -q advertised "$run/gateway.log"
    wait_for 30 "the endpoint port" python3 -c "import socket; socket.create_connection(('127.0.0.1', $endpoint_port), 1)"
}
