#!/usr/bin/env bash
# tests/cxx/run.sh -- C++'s operators new and delete on Cairn (cxx.cc):
# built with g++ for LIBDIR's width, run with the library preloaded (a
# 32-bit LIBDIR under qemu-i386).
#
# usage: tests/cxx/run.sh [LIBDIR]     (default: build)
#
# Prints cxx.cc's "PASS TAG/cxx.NAME" / "FAIL TAG/cxx.NAME: reason" lines;
# exits non-zero if any failed.
# shellcheck source=tests/script.sh
. "$(dirname "$0")/../script.sh" cxx "${1:-build}"

if [ "$tag" = 32 ] && [ ${#run[@]} = 0 ]; then
    fail qemu "qemu-i386 is not installed (Debian package qemu-user)"
    exit 1
fi
if [ "$tag" = 32 ]; then run+=(-E "LD_PRELOAD=$so"); else run=(env "LD_PRELOAD=$so"); fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! command -v g++ >/dev/null; then
    fail build "g++ is not installed (Debian packages g++ g++-multilib; .ci/run installs them)"
    exit 1
fi
if ! g++ "${arch[@]}" -std=gnu++17 -O1 -g -Wall -Wextra -Werror -o "$work/cxx" "$here/cxx.cc" 2>"$work/cc.log"; then
    fail build "g++ ${arch[*]} failed: $(head -5 "$work/cc.log" | tr '\n' ' ')"
    exit 1
fi
CAIRN_TEST_TAG=$tag "${run[@]}" "$work/cxx"
