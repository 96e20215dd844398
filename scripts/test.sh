#!/usr/bin/env bash
# The project's test command: builds every module and runs all tests (unit, component and
# end-to-end with real gateway and agent processes, curl, ssh and git) with a JDK 21+ and the
# Maven version pinned by the wrapper (./mvnw; the verify phase also checks formatting), then a
# short coverage-guided fuzzing run of every fuzz target (docs/fuzzing.md). Arguments go to the
# first Maven run; with arguments (say, -Dtest=...) the fuzzing run is skipped.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/java-home.sh"
cd "$root"
./mvnw -B -ntp verify "$@"
if [ $# -eq 0 ] && [ "${UNDERPASS_FUZZ_SECONDS:-10}" != 0 ]; then
  seconds=${UNDERPASS_FUZZ_SECONDS:-10}
  echo "short fuzzing run: each of the 9 fuzz targets for ${seconds}s (UNDERPASS_FUZZ_SECONDS=0 skips it)"
  ./mvnw -B -ntp -P fuzz test -pl protocol,controlplane,gateway -am -Dfuzz.duration="${seconds}s"
fi
