#!/usr/bin/env bash
# The project's test command: builds every module and runs all tests (unit, component and
# end-to-end with real gateway and agent processes, curl, ssh and git) with a JDK 21+.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/java-home.sh"
cd "$root"
exec mvn -B -ntp verify "$@"
