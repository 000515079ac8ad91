# shellcheck shell=bash
# script.sh -- the common start of the test scripts that tests/run.sh runs
# with a library directory (tests/NAME/run.sh [LIBDIR]); sourced as
#   . "$(dirname "$0")/../script.sh" NAME "${1:-build}"
# Sets here (the script's folder), root, libdir (absolute), tag (64; the
# script may change it), failed, and pass NAME / fail NAME REASON, which
# print "PASS TAG/NAME.CHECK" or "FAIL TAG/NAME.CHECK: REASON".
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
