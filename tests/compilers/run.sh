#!/usr/bin/env bash
# tests/compilers/run.sh -- the library builds warning-free (the Makefile's
# -Wall -Wextra -Werror) with each compiler the project supports, on both
# widths: gcc and clang, 64-bit and -m32.
#
# usage: tests/compilers/run.sh [LIBDIR]
#
# LIBDIR is accepted for tests/run.sh's sake and ignored: this script runs
# `make CC=... [M32=1] BUILD=build/tests/compilers/CC-BITS` (the library
# only).  Prints "PASS compilers.CC-BITS" or "FAIL compilers.CC-BITS: the
# first error" per build; a compiler that is not installed fails too (CI
# installs both).  Always exits 0 (the lines carry the result).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 0
out=$root/build/tests/compilers
mkdir -p "$out"

for cc in gcc clang; do
    for bits in 64 32; do
        name=$cc-$bits
        if ! command -v "$cc" >/dev/null; then
            echo "FAIL compilers.$name: $cc is not installed"
            continue
        fi
        m32=()
        [ "$bits" = 32 ] && m32=(M32=1)
        rm -rf "$out/$name"
        if make -s CC="$cc" "${m32[@]}" BUILD="$out/$name" "$out/$name/libcairn.so" "$out/$name/libcairn.a" \
            >"$out/$name.log" 2>&1; then
            echo "PASS compilers.$name"
        else
            echo "FAIL compilers.$name: $(grep -m1 -E 'error' "$out/$name.log" || tail -1 "$out/$name.log")"
            sed 's/^/    /' "$out/$name.log" | head -10
        fi
    done
done
exit 0
