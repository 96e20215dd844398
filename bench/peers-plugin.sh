# Underpass topology for the shared peer benchmark (../shared/bench/peers.sh).
#
#   PEERBENCH_PLUGINS=bench/peers-plugin.sh ../shared/bench/peers.sh direct haproxy ssh_r_aesgcm_nd underpass
#
# topo_underpass runs the real product as users run it: one gateway process and one agent process
# (two JVMs), default log level. Path of a connection:
#   client -> 127.0.0.1:$E_IPERF / $E_ECHO (gateway endpoint listeners)
#          =HTTP/2 over TLS 1.3 on 127.0.0.1:$M_AUX=> agent -> 127.0.0.1:$T_IPERF / $T_ECHO
#
# Environment:
#   UNDERPASS_BENCH_JAVA_OPTS     extra JVM options for the gateway and the agent (default: none;
#                                 the launcher's own defaults apply, as for users).
#   UNDERPASS_BENCH_GATEWAY_OPTS, UNDERPASS_BENCH_AGENT_OPTS
#                                 more JVM options for one of the two (after the common ones).
#   UNDERPASS_BENCH_START_SECS    bound on each start-up wait: gateway agent port, agent session
#                                 (default: 30).
#
# Files: config, token and the gateway's data dir (generated CA) under $RUN/cfg/underpass-<port>/;
# process output, as for every topology, in $RUN/logs/<topology>.{token,build,gateway,agent}.log.
# Sourced by peers.sh: only functions and underpass_* globals are defined here.

UNDERPASS_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# underpass_wait <secs> <what> <command...>: runs the command until it succeeds, like wait_listen
# but with a longer bound (JVM start-up), failing fast when a process of the topology exits.
underpass_wait() {
    local deadline=$((SECONDS + $1)) what=$2 q
    shift 2
    until "$@"; do
        (( SECONDS >= deadline )) && { log "[underpass] $what not ready in time (see logs)"; return 1; }
        for q in "${TOPO_PIDS[@]}"; do
            is_alive "$q" || { log "[underpass] PID $q exited during start-up (see logs)"; return 1; }
        done
        sleep 0.1
    done
}

# underpass_advertised <log> <first line>: the gateway logged an agent's advertised targets.
underpass_advertised() {
    [[ $(tail -n "+$2" "$1" 2>/dev/null) == *advertised* ]]
}

# underpass_api_port <log> <first line>: the API's port, once the gateway has logged it.
underpass_api_port() {
    local port
    port=$(tail -n "+$2" "$1" 2>/dev/null | sed -n 's/.*api listening on .*:\([0-9]*\) .*/\1/p' | tail -n 1)
    [[ -n $port ]] && echo "$port"
}

underpass_api_logged() {
    underpass_api_port "$@" >/dev/null
}

# underpass_cli ARGS...: one control-plane command, logged to the topology's CLI log.
underpass_cli() {
    UNDERPASS_JAVA_OPTS= "$UNDERPASS_REPO/underpass" "$@" >>"$LOGDIR/$CUR_TOPO.cli.log" 2>&1
}

topo_underpass() {
    local repo=$UNDERPASS_REPO
    local launcher=$repo/underpass
    local secs=${UNDERPASS_BENCH_START_SECS:-30}
    local dir=$RUN/cfg/underpass-$M_AUX
    local glog=$LOGDIR/$CUR_TOPO.gateway.log
    local api skip
    # The launcher builds the jar if it is missing or stale; do that before anything is timed.
    UNDERPASS_JAVA_OPTS= "$launcher" --version >>"$LOGDIR/$CUR_TOPO.build.log" 2>&1 ||
        { log "[underpass] build failed (see $LOGDIR/$CUR_TOPO.build.log)"; return 1; }
    export UNDERPASS_JAVA_OPTS=${UNDERPASS_BENCH_JAVA_OPTS:-}

    # A fresh store each time: the operator's first key is only written by a first start.
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    # Endpoints take gateway ports from the range in the order they are created.
    cat >"$dir/gateway.yaml" <<EOF
agentListen: $HOST:$M_AUX
apiListen: 127.0.0.1:0
proxyListen: 127.0.0.1:0
sniListen: 127.0.0.1:0
metricsListen: 127.0.0.1:0
endpointBind: $HOST
endpointPorts: $E_IPERF-$E_ECHO
EOF

    # lines already in the gateway log (a topology run twice in one run appends to it)
    skip=$(( $(cat "$glog" 2>/dev/null | wc -l) + 1 ))
    UNDERPASS_JAVA_OPTS="${UNDERPASS_BENCH_JAVA_OPTS:-} ${UNDERPASS_BENCH_GATEWAY_OPTS:-}" \
        start_bg gateway "$launcher" gateway \
        --config "$dir/gateway.yaml" --data-dir "$dir/data"
    RELAY_PIDS+=("$LAST_PID")
    underpass_wait "$secs" "agent port $M_AUX" listening "$M_AUX" || return 1
    # The API's line follows the agent port's by a few milliseconds: wait for it, not just look.
    underpass_wait "$secs" "API port" underpass_api_logged "$glog" "$skip" || return 1
    api=$(underpass_api_port "$glog" "$skip")

    # The control plane, as an operator sets it up: one account publishes both services
    # (without acceptance) and holds their endpoints. Not timed.
    local cli=$LOGDIR/$CUR_TOPO.cli.log
    export UNDERPASS_CONFIG_DIR=$dir/cli
    UNDERPASS_JAVA_OPTS= "$launcher" login --gateway "https://localhost:$api" --ca-file "$dir/data/tls/ca.pem" \
        --key-file "$dir/data/admin-key" >>"$cli" 2>&1 &&
        underpass_cli account create bench --out "$dir/bench.key" &&
        export UNDERPASS_API_KEY=$(cat "$dir/bench.key") &&
        underpass_cli agent-token create bench --out "$dir/agent.token" &&
        underpass_cli service create iperf --listener "5201=$HOST:$T_IPERF" --acceptance-required=false &&
        underpass_cli service create echo --listener "7=$HOST:$T_ECHO" --acceptance-required=false &&
        underpass_cli endpoint create bench/iperf &&
        wait_listen "$E_IPERF" &&
        underpass_cli endpoint create bench/echo ||
        { log "[underpass] control-plane set-up failed (see $cli)"; return 1; }
    unset UNDERPASS_API_KEY UNDERPASS_CONFIG_DIR

    UNDERPASS_JAVA_OPTS="${UNDERPASS_BENCH_JAVA_OPTS:-} ${UNDERPASS_BENCH_AGENT_OPTS:-}" \
        start_bg agent "$launcher" agent \
        --gateway "localhost:$M_AUX" --token-file "$dir/agent.token" --ca-file "$dir/data/tls/ca.pem" \
        --name bench --target "$HOST:$T_IPERF" --target "$HOST:$T_ECHO"
    RELAY_PIDS+=("$LAST_PID")

    # endpoint ports only carry traffic once the agent's session has advertised its targets
    underpass_wait "$secs" "agent session" underpass_advertised "$glog" "$skip" || return 1

    wait_listen "$E_IPERF" "$E_ECHO"
}

EXTRA_TOPOLOGIES+=(underpass)
