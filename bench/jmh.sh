#!/usr/bin/env bash
# Runs the JMH benchmarks of the data path's hot code (module benchmarks/, docs/benchmarks.md):
# one connection's HTTP/2 framing on the agent link, the control codec, log masking.
#
#   bench/jmh.sh [JMH ARGS...]
#
# Arguments go to JMH: a regular expression picks benchmarks, -jvmArgsAppend adds JVM options:
#   bench/jmh.sh StreamFraming -jvmArgsAppend -XX:TieredStopAtLevel=1    (C1 only, as the launcher runs)
#   bench/jmh.sh -h                                                       (JMH's options)
# Builds the module and what it needs first (offline once the build has fetched its dependencies).
# Run it on an otherwise idle machine: its figures are CPU time of one core.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
. scripts/java-home.sh
cp=$(mktemp)
trap 'rm -f "$cp"' EXIT
echo "jmh: building the benchmarks module..." >&2
./mvnw -B -ntp -q -DskipTests -Dspotless.check.skip=true -DskipErrorProne install -pl benchmarks -am >&2
./mvnw -B -ntp -q dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$cp" -Dmdep.includeScope=runtime >&2
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "benchmarks/target/classes:$(cat "$cp")" \
    org.openjdk.jmh.Main "$@"
