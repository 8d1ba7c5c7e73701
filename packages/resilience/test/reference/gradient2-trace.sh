#!/bin/sh
# Regenerates gradient2-reference.csv from Netflix's own Gradient2Limit.
# Usage: gradient2-trace.sh <git dir or work tree of github.com/Netflix/concurrency-limits>
# Needs a JDK. slf4j is replaced by a no-op stub (the class only logs at debug level).
set -eu
repo=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
core=concurrency-limits-core/src/main/java
if [ -d "$repo/$core" ]; then cp -r "$repo/$core/." "$tmp/"; else git --git-dir="$repo" archive HEAD "$core" | tar -x -C "$tmp" && cp -r "$tmp/$core/." "$tmp/"; fi
mkdir -p "$tmp/org/slf4j"
printf 'package org.slf4j;\npublic interface Logger { default boolean isDebugEnabled() { return false; } default void debug(String f, Object... a) {} default void warn(String f, Object... a) {} default void info(String f, Object... a) {} default void error(String f, Object... a) {} }\n' > "$tmp/org/slf4j/Logger.java"
printf 'package org.slf4j;\npublic final class LoggerFactory { public static Logger getLogger(Class<?> c) { return new Logger() {}; } }\n' > "$tmp/org/slf4j/LoggerFactory.java"
cd "$tmp"
find com/netflix/concurrency/limits -name '*.java' -path '*limits/*' \
  \( -path '*/limit/Gradient2Limit.java' -o -path '*/limit/AbstractLimit.java' -o -name 'Limit.java' \
     -o -path '*/measurement/*' -o -name 'MetricRegistry.java' -o -name 'MetricIds.java' \
     -o -name 'EmptyMetricRegistry.java' -o -name 'Preconditions.java' \) > sources
javac -d out org/slf4j/*.java $(cat sources) "$here/Gradient2Trace.java" 2>&1
java -cp out Gradient2Trace > "$here/gradient2-reference.csv"
echo "wrote $here/gradient2-reference.csv"
