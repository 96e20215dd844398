# Gateway-cluster topologies for the shared peer benchmark (../shared/bench/peers.sh), for
# docs/cluster.md: one node against three nodes behind haproxy, and a connection relayed between
# two nodes, in one run.
#
#   PEERBENCH_PLUGINS="bench/peers-plugin.sh bench/cluster-plugin.sh" \
#       ../shared/bench/peers.sh haproxy underpass cluster1 cluster3 relayed
#
# Every topology keeps its state in a real PostgreSQL (started here, from the machine's
# PostgreSQL binaries: `apt-get install postgresql`; as root it runs as the postgres user), and
# runs real processes. Paths:
#   cluster1: client -> node a (127.0.0.1) => agent -> target                 (1 node, on PostgreSQL)
#   cluster3: client -> haproxy (127.0.0.1) -> node a|b|c (127.0.0.2-4) => agent -> target
#             (3 nodes; 2 agents with 2 links each, dialling haproxy's agent frontend)
#   relayed:  client -> node a (127.0.0.1) =relay stream=> node b (127.0.0.3) => agent -> target
#             (the agent keeps one link, to b only: every connection crosses two nodes)
# The machine's 2 cores are shared by every node, agent, haproxy and the clients: compare ratios
# within a run (docs/cluster.md says what the figures mean).
# Sourced by peers.sh after bench/peers-plugin.sh (for underpass_wait and the CLI helper).

cluster_pg_bin() {
    local c
    c=$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | tail -n 1)
    [[ -n $c ]] && dirname "$(readlink -f "$c")"
}

# cluster_pg <dir> <port>: a fresh PostgreSQL on 127.0.0.1:<port>, trust authentication.
cluster_pg() {
    local dir=$1 port=$2 bin as=()
    bin=$(cluster_pg_bin) || { log "[cluster] no PostgreSQL binaries (apt-get install postgresql)"; return 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    if [[ $(id -u) == 0 ]]; then
        # setpriv execs the command: the PID peers.sh stops is PostgreSQL's own.
        chown postgres "$dir" && as=(setpriv --reuid=postgres --regid=postgres --clear-groups --)
    fi
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >>"$LOGDIR/$CUR_TOPO.pg.log" 2>&1 || return 1
    start_bg pg "${as[@]}" "$bin/postgres" -D "$dir/data" -h 127.0.0.1 -p "$port" -k "$dir" -c fsync=off
    underpass_wait 30 "PostgreSQL" listening "$port"
}

# cluster_node <name> <host> <agent port> <dir> <pg port> [shared tls dir]: starts one node.
cluster_node() {
    local name=$1 host=$2 aport=$3 dir=$4 pgport=$5 tls=${6:-}
    mkdir -p "$dir/$name/data"
    [[ -n $tls ]] && cp -r "$tls" "$dir/$name/data/tls"
    cat >"$dir/$name/gateway.yaml" <<EOF2
agentListen: $host:$aport
apiListen: $host:0
proxyListen: $host:0
sniListen: $host:0
metricsListen: $host:0
endpointBind: $host
endpointPorts: $E_IPERF-$E_ECHO
serverNames: [$host, 127.0.0.1]
cluster:
  nodeId: node-$name
store:
  url: jdbc:postgresql://127.0.0.1:$pgport/postgres
  user: postgres
EOF2
    UNDERPASS_JAVA_OPTS="${UNDERPASS_BENCH_JAVA_OPTS:-} ${UNDERPASS_BENCH_GATEWAY_OPTS:-}" \
        start_bg "node-$name" "$UNDERPASS_REPO/underpass" gateway --config "$dir/$name/gateway.yaml" \
        --data-dir "$dir/$name/data"
    RELAY_PIDS+=("$LAST_PID")
    underpass_wait 60 "node $name" grep -q "gateway ready" "$LOGDIR/$CUR_TOPO.node-$name.log"
}

# cluster_setup <node dir> <api host>: account, token, both services and their endpoints, via node a.
cluster_setup() {
    local dir=$1 host=$2 api
    api=$(sed -n 's/.*api listening on .*:\([0-9]*\) .*/\1/p' "$LOGDIR/$CUR_TOPO.node-a.log" | tail -n 1)
    export UNDERPASS_CONFIG_DIR=$dir/cli
    UNDERPASS_JAVA_OPTS= "$UNDERPASS_REPO/underpass" login --gateway "https://$host:$api" \
        --ca-file "$dir/a/data/tls/ca.pem" --key-file "$dir/a/data/admin-key" >>"$LOGDIR/$CUR_TOPO.cli.log" 2>&1 &&
        underpass_cli account create bench --out "$dir/bench.key" &&
        export UNDERPASS_API_KEY=$(cat "$dir/bench.key") &&
        underpass_cli agent-token create bench --out "$dir/agent.token" &&
        underpass_cli service create iperf --listener "5201=$HOST:$T_IPERF" --acceptance-required=false &&
        underpass_cli service create echo --listener "7=$HOST:$T_ECHO" --acceptance-required=false &&
        underpass_cli endpoint create bench/iperf &&
        underpass_wait 30 "the iperf endpoint" grep -q "listening on .*:$E_IPERF " "$LOGDIR/$CUR_TOPO.node-a.log" &&
        underpass_cli endpoint create bench/echo ||
        { log "[cluster] control-plane set-up failed (see $LOGDIR/$CUR_TOPO.cli.log)"; return 1; }
    unset UNDERPASS_API_KEY UNDERPASS_CONFIG_DIR
}

# cluster_agent <label> <gateway host:port> <ca> <token> [more args]
cluster_agent() {
    local label=$1 gateway=$2 ca=$3 token=$4
    shift 4
    UNDERPASS_JAVA_OPTS="${UNDERPASS_BENCH_JAVA_OPTS:-} ${UNDERPASS_BENCH_AGENT_OPTS:-}" \
        start_bg "$label" "$UNDERPASS_REPO/underpass" agent --gateway "$gateway" --token-file "$token" \
        --ca-file "$ca" --name "$label" --target "$HOST:$T_IPERF" --target "$HOST:$T_ECHO" "$@"
    RELAY_PIDS+=("$LAST_PID")
}

# cluster_sessions <log prefix> <n>: the nodes' logs show at least n agent sessions advertising.
cluster_sessions() {
    (( $(cat "$1".node-*.log 2>/dev/null | grep -c advertised) >= $2 ))
}

cluster_prepare() {
    UNDERPASS_JAVA_OPTS= "$UNDERPASS_REPO/underpass" --version >>"$LOGDIR/$CUR_TOPO.build.log" 2>&1 ||
        { log "[cluster] build failed (see $LOGDIR/$CUR_TOPO.build.log)"; return 1; }
}

topo_cluster1() {
    local dir=$RUN/cfg/cluster1-$M_AUX
    cluster_prepare && cluster_pg "$dir/pg" "$M_IPERF" || return 1
    cluster_node a 127.0.0.1 "$M_AUX" "$dir" "$M_IPERF" && cluster_setup "$dir" 127.0.0.1 || return 1
    cluster_agent agent "127.0.0.1:$M_AUX" "$dir/a/data/tls/ca.pem" "$dir/agent.token" --links 1
    underpass_wait 60 "agent session" grep -q advertised "$LOGDIR/$CUR_TOPO.node-a.log" || return 1
    wait_listen "$E_IPERF" "$E_ECHO"
}

topo_relayed() {
    local dir=$RUN/cfg/relayed-$M_AUX
    cluster_prepare && cluster_pg "$dir/pg" "$M_IPERF" || return 1
    cluster_node a 127.0.0.1 "$M_AUX" "$dir" "$M_IPERF" || return 1
    cluster_node b 127.0.0.3 "$M_AUX" "$dir" "$M_IPERF" "$dir/a/data/tls" && cluster_setup "$dir" 127.0.0.1 || return 1
    cluster_agent agent "127.0.0.3:$M_AUX" "$dir/a/data/tls/ca.pem" "$dir/agent.token" --links 1
    underpass_wait 60 "agent session on b" grep -q advertised "$LOGDIR/$CUR_TOPO.node-b.log" || return 1
    # Node a learns at b's next heartbeat (every 2 s) that b's agent serves the endpoints.
    underpass_wait 30 "a relay through node b" "$PY" -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $E_ECHO), 2); s.settimeout(2); s.sendall(b'x')
sys.exit(0 if s.recv(1) == b'x' else 1)" || return 1
    wait_listen "$E_IPERF" "$E_ECHO"
}

topo_cluster3() {
    local dir=$RUN/cfg/cluster3-$M_AUX n host
    cluster_prepare && cluster_pg "$dir/pg" "$M_IPERF" || return 1
    cluster_node a 127.0.0.2 "$M_AUX" "$dir" "$M_IPERF" || return 1
    cluster_node b 127.0.0.3 "$M_AUX" "$dir" "$M_IPERF" "$dir/a/data/tls" || return 1
    cluster_node c 127.0.0.4 "$M_AUX" "$dir" "$M_IPERF" "$dir/a/data/tls" && cluster_setup "$dir" 127.0.0.2 || return 1
    # haproxy: the consumers' ports and the agent port, each server checked on /readyz.
    {
        printf 'global\n    maxconn 8000\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n'
        printf '    timeout server 60s\n'
        for port in "$E_IPERF" "$E_ECHO"; do
            printf 'listen p%s\n    bind 127.0.0.1:%s\n' "$port" "$port"
            for n in a b c; do
                host=127.0.0.$(( $(printf '%d' "'$n") - 95 ))
                printf '    server %s %s:%s\n' "$n" "$host" "$port"
            done
        done
        printf 'listen agents\n    bind 127.0.0.1:%s\n' "$M_ECHO"
        for n in a b c; do
            host=127.0.0.$(( $(printf '%d' "'$n") - 95 ))
            printf '    server %s %s:%s\n' "$n" "$host" "$M_AUX"
        done
    } >"$dir/haproxy.cfg"
    start_bg haproxy haproxy -db -f "$dir/haproxy.cfg"
    RELAY_PIDS+=("$LAST_PID")
    cluster_agent agent-1 "127.0.0.1:$M_ECHO" "$dir/a/data/tls/ca.pem" "$dir/agent.token"
    cluster_agent agent-2 "127.0.0.1:$M_ECHO" "$dir/a/data/tls/ca.pem" "$dir/agent.token"
    underpass_wait 60 "4 agent sessions" cluster_sessions "$LOGDIR/$CUR_TOPO" 4 || return 1
    sleep 3 # one heartbeat (2 s) later, every node knows which others' agents serve what
    wait_listen "$E_IPERF" "$E_ECHO"
}

EXTRA_TOPOLOGIES+=(cluster1 cluster3 relayed)
