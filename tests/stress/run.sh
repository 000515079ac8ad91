#!/usr/bin/env bash
# tests/stress/run.sh -- the long multi-threaded stress (tests/stress/stress.c)
# on a built library: preloaded, then linked with the static library.
#
# usage: tests/stress/run.sh [LIBDIR] [SECONDS]
#
# LIBDIR (default build) holds libcairn.so and libcairn.a.  A 32-bit
# library (build32) is recognised: the program is then built with -m32 and
# run under qemu-i386 (qemu-i386 -E LD_PRELOAD=LIBDIR/libcairn.so), with 4
# threads instead of 8.  SECONDS (default 10) is how long the preloaded run
# lasts; the static run lasts STRESS_STATIC_SECONDS (default: SECONDS; 0
# skips it).  CAIRN_STRESS_THREADS, CAIRN_STRESS_SEED and CAIRN_STRESS_STATS
# pass through to the program (see stress.c).
#
# Prints "PASS TAG/stress.mixed" or "FAIL TAG/stress.mixed: reason" per run,
# TAG being 64 (preloaded), 64s (static), 32 or 32s; the program's output
# is in LIBDIR/tests/stress/TAG.log.  Always exits 0 (the lines carry the
# result).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 0

libdir=${1:-build}
seconds=${2:-10}
static_seconds=${STRESS_STATIC_SECONDS:-$seconds}
case $libdir in /*) ;; *) libdir=$root/$libdir ;; esac
CC=${CC:-gcc}
CFLAGS=(-std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread -Iinclude)
NAME=mixed

so=$libdir/libcairn.so
a=$libdir/libcairn.a
out=$libdir/tests/stress
mkdir -p "$out" 2>/dev/null

# 32-bit?  (the ELF class byte of the shared library: 1 = 32-bit)
bits=64
if [ -f "$so" ] && [ "$(od -An -tx1 -j4 -N1 "$so" | tr -d ' ')" = 01 ]; then bits=32; fi
arch=()
runner=()
threads=${CAIRN_STRESS_THREADS:-8}
if [ "$bits" = 32 ]; then
    arch=(-m32)
    runner=(qemu-i386)
    threads=${CAIRN_STRESS_THREADS:-4}
fi

# run_one TAG SECONDS BIN [PRELOAD]
run_one() {
    local tag=$1 secs=$2 bin=$3 pre=${4:-} log rc line limit
    log=$out/$tag.log
    limit=$((2 * secs + 300))
    local cmd=("${runner[@]}")
    if [ -n "$pre" ]; then
        if [ "$bits" = 32 ]; then cmd+=(-E "LD_PRELOAD=$pre"); else cmd=(env "LD_PRELOAD=$pre"); fi
    fi
    local qemu=0
    [ "$bits" = 32 ] && qemu=1
    env CAIRN_TEST_TAG="$tag" CAIRN_TEST_EXPECT=1 CAIRN_TEST_QEMU="$qemu" \
        CAIRN_STRESS_THREADS="$threads" CAIRN_STRESS_NAME="$NAME" \
        timeout -k 10 "$limit" "${cmd[@]}" "$bin" "$secs" </dev/null >"$log" 2>&1
    rc=$?
    grep '^stress: ' "$log" | sed 's/^/  /'
    line=$(grep -m1 '^FAIL ' "$log")
    if [ -n "$line" ]; then
        # A message of the allocator's own (cairn: ...) says more than ours.
        local msg
        msg=$(grep -m1 -v -E '^(PASS|FAIL|stress:) ' "$log")
        if [ -n "$msg" ]; then echo "$line (stderr: $msg; see $log)"; else echo "$line (see $log)"; fi
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "FAIL $tag/stress.$NAME: timed out after ${limit}s, killed (see $log)"
    elif [ "$rc" -ne 0 ]; then
        local why="exited with status $rc"
        [ "$rc" -gt 128 ] && why="killed by signal $((rc - 128))"
        msg=$(grep -m1 -v -E '^(PASS|FAIL|stress:) ' "$log")
        echo "FAIL $tag/stress.$NAME: $why${msg:+: $msg} (see $log)"
    elif ! grep -q "^PASS $tag/stress.$NAME\$" "$log"; then
        echo "FAIL $tag/stress.$NAME: printed no result (see $log)"
    else
        echo "PASS $tag/stress.$NAME"
    fi
}

# build TAG BIN ARGS...: compile; a failure is the run's FAIL line.
build() {
    local tag=$1 bin=$2
    shift 2
    if ! "$CC" "${CFLAGS[@]}" "${arch[@]}" tests/stress/stress.c "$@" -o "$bin" >"$bin.build.log" 2>&1; then
        echo "FAIL $tag/stress.$NAME: does not compile or link: $(grep -m1 -E 'error|undefined' "$bin.build.log" || head -1 "$bin.build.log")"
        sed 's/^/    /' "$bin.build.log" | head -20
        return 1
    fi
}

tag=$bits
if [ "$bits" = 32 ] && ! command -v qemu-i386 >/dev/null; then
    echo "FAIL $tag/stress.$NAME: qemu-i386 is not installed (Debian package qemu-user)"
elif [ ! -f "$so" ]; then
    echo "FAIL $tag/stress.$NAME: $so not found (run make)"
elif build "$tag" "$out/stress"; then
    run_one "$tag" "$seconds" "$out/stress" "$so"
fi

if [ "$static_seconds" -gt 0 ]; then
    tag=${bits}s
    if [ "$bits" = 32 ] && ! command -v qemu-i386 >/dev/null; then
        echo "FAIL $tag/stress.$NAME: qemu-i386 is not installed (Debian package qemu-user)"
    elif [ ! -f "$a" ]; then
        echo "FAIL $tag/stress.$NAME: $a not found (run make)"
    elif build "$tag" "$out/stress-static" -DCAIRN_STATIC_LINK "$a" -lpthread; then
        run_one "$tag" "$static_seconds" "$out/stress-static"
    fi
fi
exit 0
