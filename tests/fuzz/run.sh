#!/usr/bin/env bash
# tests/fuzz/run.sh -- build the libFuzzer harness (fuzz.c) and run it.
#
# usage: tests/fuzz/run.sh [RUNS] [LIBDIR]
#
#   RUNS    number of inputs to run (default 20000; under a minute)
#   LIBDIR  accepted for tests/run.sh's sake and ignored: the harness
#           compiles src/*.c itself, with clang, into build/tests/fuzz/fuzz
#           (an argument that is not a number is taken as LIBDIR)
#
# Prints "PASS fuzz.build" / "FAIL fuzz.build: reason" and "PASS fuzz.run" /
# "FAIL fuzz.run: reason"; always exits 0 (the lines carry the result).
# The run works on a scratch copy of tests/fuzz/corpus/, so the committed
# corpus never grows; a crashing input is saved as
# build/tests/fuzz/crash-* (reproduce: build/tests/fuzz/fuzz FILE).
#
# Long campaign (after this script has built the binary):
#     mkdir -p /tmp/cairn-fuzz && cp tests/fuzz/corpus/* /tmp/cairn-fuzz/
#     build/tests/fuzz/fuzz -max_total_time=3600 -jobs=2 -workers=2 \
#         -artifact_prefix=/tmp/cairn-fuzz-crash- /tmp/cairn-fuzz
# (/tmp/cairn-fuzz grows with the inputs found; -jobs=2 writes
# fuzz-0.log, fuzz-1.log in the current directory.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=20000
case ${1:-} in '' | *[!0-9]*) ;; *) runs=$1 ;; esac

out=$root/build/tests/fuzz
bin=$out/fuzz
mkdir -p "$out"
CLANG=${CLANG:-clang}
# No -fsanitize-coverage=trace-cmp: with it libFuzzer learns the values
# free() compares a block's second word with (the page key that marks a
# freed block), writes them into its own input buffers, and free() of those
# buffers then reports a (false) double free.
FLAGS=(-std=gnu11 -Iinclude -O1 -g -fsanitize=fuzzer -fno-sanitize-coverage=trace-cmp
       -fsanitize=undefined -fno-sanitize-recover=undefined
       -fno-builtin-malloc -pthread)

cd "$root" || exit 0
if ! command -v "$CLANG" >/dev/null; then
    echo "FAIL fuzz.build: $CLANG not found (Debian package clang)"
    echo "FAIL fuzz.run: not built"
    exit 0
fi
if ! "$CLANG" "${FLAGS[@]}" src/*.c tests/fuzz/fuzz.c -o "$bin" >"$out/build.log" 2>&1; then
    echo "FAIL fuzz.build: $(grep -m1 -E 'error|undefined' "$out/build.log" || head -1 "$out/build.log")"
    sed 's/^/    /' "$out/build.log" | head -20
    echo "FAIL fuzz.run: not built"
    exit 0
fi
echo "PASS fuzz.build"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here"/corpus/* "$work/"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
start=$SECONDS
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    timeout -k 10 300 "$bin" -runs="$runs" -seed=1 -max_len=4096 -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" \
    "$work" >"$out/run.log" 2>&1 </dev/null
rc=$?
took=$((SECONDS - start))
crash=$(find "$out" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'timeout-*' \
        -o -maxdepth 1 -name 'oom-*' | head -1)
if [ "$rc" -eq 0 ]; then
    echo "PASS fuzz.run"
    echo "    $runs inputs in ${took}s; $(grep -m1 -o 'cov: [0-9]*' "$out/run.log" | tail -1)"
else
    why=$(grep -m1 -E 'cairn fuzz:|runtime error:|ERROR: libFuzzer|==ERROR' "$out/run.log")
    [ "$rc" -eq 124 ] && why="timed out after 300s"
    echo "FAIL fuzz.run: status $rc: ${why:-see $out/run.log}${crash:+; reproduce: $bin $crash}"
    tail -30 "$out/run.log" | sed 's/^/    /'
fi
exit 0
