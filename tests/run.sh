#!/usr/bin/env bash
# run.sh -- Cairn's test suite.
#
# usage: tests/run.sh [--lib DIR] [--lib32 DIR] [--width 64|32|both]
#                     [--only PATTERN] [--scale32 PERCENT]
#
#   --lib DIR       x86-64 library directory (libcairn.so, libcairn.a);
#                   default build.  "none": no library at all, the tests
#                   run on the system allocator (to check the tests)
#   --lib32 DIR     32-bit library directory; default build32 ("none" too)
#   --width W       64, 32 or both (default)
#   --only PATTERN  run only matching tests: PROGRAM or PROGRAM.SUBTEST, where
#                   PROGRAM is a glob over api overlap threads fork misuse rss
#                   limits invincible ttest static programs stats install
#                   valgrind bench cxx stress fuzz ubsan tsan compilers, and SUBTEST a substring of subtest names (e.g. --only 'api.calloc')
#   --scale32 P     iteration counts under qemu, percent (default 50)
#
# Every test prints "PASS name" or "FAIL name: reason"; names start with
# the configuration: 64 (preloaded), 64s (linked with libcairn.a), 32
# (preloaded, under qemu-i386), 32s.  The last line is "N passed, N failed";
# the exit status is non-zero if anything failed.
set -u

cd "$(dirname "$0")/.." || exit 2
root=$PWD
# shellcheck source=tests/lib.sh
. tests/lib.sh

lib64=build
lib32=build32
width=both
only=
scale32=50

while [ $# -gt 0 ]; do
    case $1 in
    --lib) lib64=${2:?--lib needs a directory}; shift 2 ;;
    --lib32) lib32=${2:?--lib32 needs a directory}; shift 2 ;;
    --width) width=${2:?--width needs 64, 32 or both}; shift 2 ;;
    --only) only=${2:?--only needs a pattern}; shift 2 ;;
    --scale32) scale32=${2:?--scale32 needs a percentage}; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
case $width in 64 | 32 | both) ;; *) echo "run.sh: --width must be 64, 32 or both" >&2; exit 2 ;; esac

only_prog=${only%%.*}
only_sub=
case $only in *.*) only_sub=${only#*.} ;; esac
export CAIRN_TEST_ONLY=$only_sub

absdir() { case $1 in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }

CFLAGS=(-std=gnu11 -O1 -g -Wall -Wextra -Werror -pthread -Iinclude)
# Per-program time limits (seconds); subtests have their own alarms too.
LIMIT=600

# shellcheck disable=SC2053 # the pattern is a glob on purpose
selected() { [ -z "$only_prog" ] || [[ $1 == $only_prog ]]; }

# run_config TAG: compile and run the programs of one configuration.
#   64   preloaded x86-64    64s  linked with build/libcairn.a
#   32   preloaded, qemu     32s  linked with build32/libcairn.a, qemu
run_config() {
    local tag=$1 progs arch=() libdir scratch so a static=0 qemu=0 prog out make=make
    case $tag in
    64) progs="api overlap threads fork misuse rss limits invincible ttest"; libdir=$lib64 ;;
    64s) progs="api overlap threads static"; libdir=$lib64; static=1 ;;
    32) progs="api overlap threads fork misuse limits invincible ttest"; libdir=$lib32; arch=(-m32); qemu=1; make="make M32=1" ;;
    32s) progs="api static"; libdir=$lib32; arch=(-m32); static=1; qemu=1; make="make M32=1" ;;
    esac
    local todo=()
    for prog in $progs; do selected "$prog" && todo+=("$prog"); done
    [ ${#todo[@]} -gt 0 ] || return 0

    if [ "$libdir" = none ]; then
        [ "$static" = 1 ] && return 0           # nothing to link with
        scratch=$root/build/tests-system/$tag
    else
        libdir=$(absdir "$libdir")
        scratch=$libdir/tests/$tag
        so=$libdir/libcairn.so
        a=$libdir/libcairn.a
        if [ "$static" = 1 ] && [ ! -f "$a" ]; then
            result_fail "$tag/library" "$a not found (run $make)"
            return 0
        fi
        if [ "$static" = 0 ] && [ ! -f "$so" ]; then
            result_fail "$tag/library" "$so not found (run $make)"
            return 0
        fi
    fi
    if [ "$qemu" = 1 ] && ! command -v qemu-i386 >/dev/null; then
        result_fail "$tag/qemu" "qemu-i386 is not installed (Debian package qemu-user)"
        return 0
    fi
    mkdir -p "$scratch"

    for prog in "${todo[@]}"; do
        out=$scratch/$prog
        local link=()
        if [ "$static" = 1 ]; then link=(-DCAIRN_STATIC_LINK "$a" -lpthread); fi
        build "$tag/$prog" "$out" "${CFLAGS[@]}" "${arch[@]}" "tests/$prog/$prog.c" "${link[@]}" || continue
        local envs=(CAIRN_TEST_TAG="$tag" CAIRN_TEST_EXPECT=1 CAIRN_TEST_QEMU="$qemu")
        [ "$libdir" = none ] && envs[1]=CAIRN_TEST_EXPECT=0
        if [ "$qemu" = 1 ]; then
            envs+=(CAIRN_TEST_SCALE="$scale32")
            local pre=()
            [ "$static" = 0 ] && [ "$libdir" != none ] && pre=(-E "LD_PRELOAD=$so")
            run_logged "$tag/$prog" "$LIMIT" "$out.log" env "${envs[@]}" qemu-i386 "${pre[@]}" "$out"
        else
            envs+=(CAIRN_TEST_SCALE=100)
            [ "$static" = 0 ] && [ "$libdir" != none ] && envs+=(LD_PRELOAD="$so")
            run_logged "$tag/$prog" "$LIMIT" "$out.log" env "${envs[@]}" "$out"
        fi
    done
}

echo "Cairn tests: lib=$lib64 lib32=$lib32 width=$width${only:+ only=$only}"
start=$SECONDS
if [ "$width" != 32 ]; then
    run_config 64
    run_config 64s
    if selected programs; then
        if [ "$lib64" = none ]; then
            result_fail "64/programs" "needs a library (--lib DIR)"
        else
            d=$(absdir "$lib64")/tests/programs
            mkdir -p "$d"
            run_logged 64/programs "$LIMIT" "$d/programs.log" \
                tests/programs/programs.sh "$(absdir "$lib64")/libcairn.so" "$d" 64 "$only_sub"
        fi
    fi
    for t in stats install valgrind bench cxx; do
        if selected "$t"; then
            if [ "$lib64" = none ]; then
                result_fail "64/$t" "needs a library (--lib DIR)"
            else
                d=$(absdir "$lib64")/tests/$t
                mkdir -p "$d"
                run_logged "64/$t" "$LIMIT" "$d/$t.log" "tests/$t/run.sh" "$(absdir "$lib64")"
            fi
        fi
    done
    if selected stress; then
        if [ "$lib64" = none ]; then
            result_fail "64/stress" "needs a library (--lib DIR)"
        else
            d=$(absdir "$lib64")/tests/stress
            mkdir -p "$d"
            run_logged 64/stress "$LIMIT" "$d/stress.log" tests/stress/run.sh "$(absdir "$lib64")" 10
        fi
    fi
    for t in fuzz ubsan tsan compilers; do     # these build src/ themselves
        if selected "$t"; then
            d=$root/build/tests/$t
            mkdir -p "$d"
            run_logged "64/$t" "$LIMIT" "$d/$t.log" "tests/$t/run.sh" "$(absdir "$lib64")"
        fi
    done
fi
if [ "$width" != 64 ]; then
    run_config 32
    run_config 32s
    if selected stress && [ "$lib32" != none ]; then
        d=$(absdir "$lib32")/tests/stress
        mkdir -p "$d"
        run_logged 32/stress "$LIMIT" "$d/stress.log" env STRESS_STATIC_SECONDS=0 \
            tests/stress/run.sh "$(absdir "$lib32")" 10
    fi
    for t in stats install cxx; do
        if selected "$t" && [ "$lib32" != none ]; then
            d=$(absdir "$lib32")/tests/$t
            mkdir -p "$d"
            run_logged "32/$t" "$LIMIT" "$d/$t.log" "tests/$t/run.sh" "$(absdir "$lib32")"
        fi
    done
fi

echo
if [ "$nfail" -gt 0 ]; then
    echo "Failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "(took $((SECONDS - start)) s)"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
