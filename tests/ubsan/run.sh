#!/usr/bin/env bash
# tests/ubsan/run.sh -- the library and four test programs under
# UndefinedBehaviorSanitizer (the stress for 8 s).
#
# usage: tests/ubsan/run.sh [LIBDIR]
#
# LIBDIR is accepted for tests/run.sh's sake and ignored: this script
# compiles src/*.c itself (gcc, the Makefile's LIBFLAGS plus
# -fsanitize=undefined -fno-sanitize-recover=undefined) into
# build/tests/ubsan/libcairn-ubsan.a, links tests/api, tests/overlap,
# tests/threads and tests/stress with it statically, and runs them with
# UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1.
#
# Prints "PASS ubsan.build" / "FAIL ubsan.build: reason", then
# "PASS ubsan.PROG" or "FAIL ubsan.PROG: reason" per program (a program's
# own FAIL lines, a UBSan report or an abnormal end fail it); the
# programs' output is in build/tests/ubsan/PROG.log.  Always exits 0 (the
# lines carry the result).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 0

out=$root/build/tests/ubsan
lib=$out/libcairn-ubsan.a
CC=${CC:-gcc}
SAN=(-fsanitize=undefined -fno-sanitize-recover=undefined)
# The Makefile's LIBFLAGS (with its default CFLAGS, -O2 -g).
LIBFLAGS=(-std=gnu11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -fno-plt
          -ftls-model=initial-exec -fno-tree-slp-vectorize -fno-builtin-malloc
          -fno-stack-protector -Iinclude -O2 -g)
# As tests/run.sh compiles the programs, linked with libcairn.a.
TFLAGS=(-std=gnu11 -O1 -g -Wall -Wextra -Werror -pthread -Iinclude -DCAIRN_STATIC_LINK)
PROGS="api overlap threads stress"
LIMIT=300

rm -rf "$out/obj"
mkdir -p "$out/obj"
fail_all() {
    local p
    for p in $PROGS; do echo "FAIL ubsan.$p: $1"; done
}

# The library.
for src in src/*.c; do
    obj=$out/obj/$(basename "$src" .c).o
    if ! "$CC" "${LIBFLAGS[@]}" "${SAN[@]}" -c "$src" -o "$obj" >"$out/build.log" 2>&1; then
        echo "FAIL ubsan.build: $src: $(grep -m1 -E 'error' "$out/build.log" || head -1 "$out/build.log")"
        sed 's/^/    /' "$out/build.log" | head -20
        fail_all "library not built"
        exit 0
    fi
done
rm -f "$lib"
if ! ar rcs "$lib" "$out"/obj/*.o >"$out/build.log" 2>&1; then
    echo "FAIL ubsan.build: ar: $(head -1 "$out/build.log")"
    fail_all "library not built"
    exit 0
fi
echo "PASS ubsan.build"

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for p in $PROGS; do
    bin=$out/$p
    log=$out/$p.log
    if ! "$CC" "${TFLAGS[@]}" "${SAN[@]}" "tests/$p/$p.c" "$lib" -lpthread -o "$bin" \
        >"$bin.build.log" 2>&1; then
        echo "FAIL ubsan.$p: does not compile or link: $(grep -m1 -E 'error|undefined' "$bin.build.log" || head -1 "$bin.build.log")"
        sed 's/^/    /' "$bin.build.log" | head -20
        continue
    fi
    env CAIRN_TEST_TAG=ubsan CAIRN_TEST_EXPECT=1 CAIRN_TEST_QEMU=0 CAIRN_TEST_SCALE=100 CAIRN_STRESS_SECONDS=8 \
        timeout -k 10 "$LIMIT" "$bin" </dev/null >"$log" 2>&1
    rc=$?
    npass=$(grep -c '^PASS ' "$log")
    nfail=$(grep -c '^FAIL ' "$log")
    ub=$(grep -m1 'runtime error:' "$log")
    if [ -n "$ub" ]; then
        echo "FAIL ubsan.$p: $ub (see $log)"
    elif [ "$nfail" -gt 0 ]; then
        echo "FAIL ubsan.$p: $nfail subtest(s) failed: $(grep -m1 '^FAIL ' "$log" | cut -c6-) (see $log)"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "FAIL ubsan.$p: timed out after ${LIMIT}s (see $log)"
    elif [ "$rc" -ne 0 ]; then
        echo "FAIL ubsan.$p: exited with status $rc (see $log)"
    elif [ "$npass" -eq 0 ]; then
        echo "FAIL ubsan.$p: printed no results (see $log)"
    else
        echo "PASS ubsan.$p"
    fi
done
exit 0
