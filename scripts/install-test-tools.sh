#!/usr/bin/env bash
# Installs what the tests drive on a fresh Debian machine: OpenSSH server and client, git, curl,
# socat (a proxy client for ssh's ProxyCommand), unzip (./mvnw unpacks the pinned Maven with it and checks
# the .zip's SHA-256) and Maven's dependency plugin; for the two-host
# test (TwoHostTest): ip (network namespaces), dnsmasq-base (a DNS server without the system
# service), openssl (a private CA) and python3 (a static HTTPS server for git's dumb HTTP protocol); for
# the cluster tests (ClusterFailoverTest): haproxy, the TCP load balancer in front of the gateway's nodes,
# and nft (nftables), which makes a packet-level load balancer beside it; for the web console's browser
# test (ConsoleTest): chromium and its chromedriver, which Selenium drives headless.
# (The JDK comes with the machine; scripts/java-home.sh finds a JDK 21+; ./mvnw fetches the pinned Maven.)
set -euo pipefail
need=()
for tool in sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client git:git curl:curl socat:socat unzip:unzip \
        ip:iproute2 dnsmasq:dnsmasq-base openssl:openssl python3:python3 haproxy:haproxy \
        nft:nftables chromium:chromium chromedriver:chromium-driver; do
    cmd=${tool%%:*} pkg=${tool#*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
        need+=("$pkg")
    fi
done
if [ ${#need[@]} -eq 0 ]; then
    echo "test tools: all present"
else
    echo "test tools: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
# The Maven client test runs Maven's dependency plugin with every repository pointed at a private
# one on loopback, so the plugin must already be in the local repository.
echo "test tools: maven-dependency-plugin 3.8.1 in the local repository"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/java-home.sh"
"$root/mvnw" -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:help >/dev/null
