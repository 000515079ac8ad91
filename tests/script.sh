# shellcheck shell=bash
# script.sh -- the common start of the test scripts that tests/run.sh runs
# with a library directory (tests/NAME/run.sh [LIBDIR]); sourced as
#   . "$(dirname "$0")/../script.sh" NAME "${1:-build}"
# Sets here (the script's folder), root, libdir (absolute), so (its
# libcairn.so, which must exist), its width: tag (64 or 32), arch (-m32 or
# nothing), m32 (1 or empty) and run (qemu-i386 for 32-bit when installed),
# failed, and pass NAME / fail NAME REASON, which print "PASS TAG/NAME.CHECK"
# or "FAIL TAG/NAME.CHECK: REASON".
set -u
script_name=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
libdir=$2
case $libdir in /*) ;; *) libdir=$root/$libdir ;; esac

failed=0
tag=64
pass() { printf 'PASS %s/%s.%s\n' "$tag" "$script_name" "$1"; }
fail() {
    printf 'FAIL %s/%s.%s: %s\n' "$tag" "$script_name" "$1" "$2"
    failed=1
}

so=$libdir/libcairn.so
if [ ! -f "$so" ]; then
    fail library "$so not found (run make)"
    exit 1
fi
# ELF class (byte 5): 1 = 32-bit, 2 = 64-bit.
arch=()
run=()
m32=
if [ "$(od -An -tu1 -j4 -N1 "$so" | tr -d ' ')" = 1 ]; then
    tag=32
    arch=(-m32)
    m32=1
    if command -v qemu-i386 >/dev/null; then run=(qemu-i386); fi
fi
