# Sourced by the launcher and scripts: sets JAVA_HOME to a JDK of version 21 or newer.
# Order: $JAVA_HOME if it is new enough, then the newest JDK under /usr/lib/jvm.
underpass_java_major() {
    "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1
}
underpass_find_jdk() {
    local candidate major best="" best_major=0
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
        major=$(underpass_java_major "$JAVA_HOME")
        if [ "${major:-0}" -ge 21 ] 2>/dev/null; then echo "$JAVA_HOME"; return 0; fi
    fi
    for candidate in /usr/lib/jvm/*; do
        [ -x "$candidate/bin/javac" ] || continue
        major=$(underpass_java_major "$candidate")
        if [ "${major:-0}" -ge 21 ] 2>/dev/null && [ "$major" -gt "$best_major" ]; then
            best=$candidate; best_major=$major
        fi
    done
    [ -n "$best" ] && { echo "$best"; return 0; }
    return 1
}
if ! JAVA_HOME=$(underpass_find_jdk); then
    echo "underpass: needs a JDK 21 or newer (set JAVA_HOME, or install one under /usr/lib/jvm)" >&2
    exit 1
fi
export JAVA_HOME
# Maven 3.8 on JDK 24+ warns about sun.misc.Unsafe in its own libraries; the warning is noise. The option
# exists from JDK 23 on: an older JVM refuses to start with it, so it is added only where the JDK knows it.
if [ "$(underpass_java_major "$JAVA_HOME")" -ge 23 ] 2>/dev/null; then
    case " ${MAVEN_OPTS:-} " in
        *" --sun-misc-unsafe-memory-access="*) ;;
        *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;;
    esac
fi
