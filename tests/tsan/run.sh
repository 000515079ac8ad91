#!/usr/bin/env bash
# tests/tsan/run.sh -- the library under ThreadSanitizer, driven by the
# stress program (tests/stress/stress.c).
#
# usage: tests/tsan/run.sh [LIBDIR] [SECONDS]
#
# LIBDIR is accepted for tests/run.sh's sake and ignored: this script
# compiles src/*.c itself with clang -fsanitize=thread -O1 -g (and the
# Makefile's other LIBFLAGS) into build/tests/tsan/libcairn-tsan.a, builds
# the stress program with -DSTRESS_PREFIXED (it then calls cairn_malloc,
# cairn_free, ...: TSan intercepts malloc itself, so the library must not
# take the C library's names) and runs it for SECONDS (default 15) with
# TSAN_OPTIONS=halt_on_error=1.
#
# The C library's names: src/override.c defines both the cairn_* API and
# malloc, free, ...; src/stats.c defines mallinfo, malloc_stats, mallopt,
# ...  Every object is compiled as it is and then passed through
# `objcopy --wildcard --keep-global-symbol='cn_*' --keep-global-symbol='cairn_*'`,
# which makes every other name it defines local to it: the program keeps
# TSan's malloc and glibc's mallinfo, and calls Cairn only through cairn_*.
#
# Prints "PASS tsan.build" / "FAIL tsan.build: reason", then
# "PASS tsan/stress.mixed" or "FAIL tsan/stress.mixed: reason" (a TSan
# report, a FAIL line of the program's or an abnormal end fails it); the
# output is in build/tests/tsan/stress.log.  Always exits 0 (the lines
# carry the result).  TSAN_EXTRA_OPTIONS is appended to TSAN_OPTIONS;
# CAIRN_STRESS_THREADS, CAIRN_STRESS_SEED and CAIRN_STRESS_STATS pass
# through to the program (the statistics are off unless asked for: they
# read other threads' counters without synchronisation on purpose, see
# src/stats.c).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 0

seconds=${2:-15}
out=$root/build/tests/tsan
lib=$out/libcairn-tsan.a
CC=${CLANG:-clang}
SAN=(-fsanitize=thread)
# The Makefile's LIBFLAGS, for clang (no -fno-tree-slp-vectorize), -O1.
LIBFLAGS=(-std=gnu11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -fno-plt
          -ftls-model=initial-exec -fno-slp-vectorize -fno-builtin-malloc
          -fno-stack-protector -Iinclude -O1 -g)
TFLAGS=(-std=gnu11 -O1 -g -Wall -Wextra -Werror -pthread -Iinclude -DCAIRN_STATIC_LINK -DSTRESS_PREFIXED)
NAME=mixed
limit=$((3 * seconds + 300))

mkdir -p "$out"
rm -rf "$out/obj"
mkdir -p "$out/obj"

fail_build() {
    echo "FAIL tsan.build: $1"
    [ -n "${2:-}" ] && sed 's/^/    /' "$2" | head -20
    echo "FAIL tsan/stress.$NAME: library not built"
    exit 0
}

command -v "$CC" >/dev/null || fail_build "$CC not found (apt-get install clang libclang-rt-14-dev)"
command -v objcopy >/dev/null || fail_build "objcopy not found (binutils)"
# The TSan runtime is a separate package from clang itself.
printf 'int main(void) { return 0; }\n' >"$out/probe.c"
if ! "$CC" "${SAN[@]}" "$out/probe.c" -o "$out/probe" >"$out/build.log" 2>&1; then
    fail_build "$CC -fsanitize=thread cannot link (apt-get install libclang-rt-14-dev?)" "$out/build.log"
fi

# The library.
for src in src/*.c; do
    obj=$out/obj/$(basename "$src" .c).o
    if ! "$CC" "${LIBFLAGS[@]}" "${SAN[@]}" -c "$src" -o "$obj" >"$out/build.log" 2>&1; then
        fail_build "$src: $(grep -m1 -E 'error' "$out/build.log" || head -1 "$out/build.log")" "$out/build.log"
    fi
    if ! objcopy --wildcard --keep-global-symbol='cn_*' --keep-global-symbol='cairn_*' "$obj" \
        >"$out/build.log" 2>&1; then
        fail_build "objcopy $obj: $(head -1 "$out/build.log")" "$out/build.log"
    fi
done
rm -f "$lib"
if ! ar rcs "$lib" "$out"/obj/*.o >"$out/build.log" 2>&1; then
    fail_build "ar: $(head -1 "$out/build.log")" "$out/build.log"
fi

# The program.
bin=$out/stress
if ! "$CC" "${TFLAGS[@]}" "${SAN[@]}" tests/stress/stress.c "$lib" -lpthread -o "$bin" \
    >"$bin.build.log" 2>&1; then
    fail_build "stress.c does not compile or link: $(grep -m1 -E 'error|undefined' "$bin.build.log" || head -1 "$bin.build.log")" "$bin.build.log"
fi
# The library must not have taken malloc from TSan (whose interceptors
# are weak: a global malloc of Cairn's would win).
if nm "$bin" | grep -qE ' T (malloc|free|calloc|realloc)$'; then
    fail_build "Cairn's malloc is global in the program: it would replace TSan's"
fi
echo "PASS tsan.build"

log=$out/stress.log
supp=$here/suppressions.txt
opts="halt_on_error=1:second_deadlock_stack=1"
[ -f "$supp" ] && opts="$opts:suppressions=$supp"
env TSAN_OPTIONS="$opts${TSAN_EXTRA_OPTIONS:+:$TSAN_EXTRA_OPTIONS}" \
    CAIRN_TEST_TAG=tsan CAIRN_TEST_EXPECT=1 CAIRN_TEST_QEMU=0 \
    CAIRN_STRESS_STATS="${CAIRN_STRESS_STATS:-0}" CAIRN_STRESS_NAME="$NAME" \
    timeout -k 10 "$limit" "$bin" "$seconds" </dev/null >"$log" 2>&1
rc=$?
grep '^stress: ' "$log" | sed 's/^/  /'
report=$(grep -m1 '^SUMMARY: ThreadSanitizer' "$log")
[ -z "$report" ] && report=$(grep -m1 'WARNING: ThreadSanitizer' "$log")
fail=$(grep -m1 '^FAIL ' "$log")
if [ -n "$report" ]; then
    echo "FAIL tsan/stress.$NAME: ${report#SUMMARY: } (see $log)"
elif [ -n "$fail" ]; then
    echo "$fail (see $log)"
elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "FAIL tsan/stress.$NAME: timed out after ${limit}s (see $log)"
elif [ "$rc" -ne 0 ]; then
    echo "FAIL tsan/stress.$NAME: exited with status $rc: $(grep -m1 -v -E '^(PASS|stress:) ' "$log") (see $log)"
elif ! grep -q "^PASS tsan/stress.$NAME\$" "$log"; then
    echo "FAIL tsan/stress.$NAME: printed no result (see $log)"
else
    echo "PASS tsan/stress.$NAME"
fi
exit 0
