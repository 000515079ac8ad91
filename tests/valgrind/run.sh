#!/usr/bin/env bash
# tests/valgrind/run.sh -- memcheck sees the blocks of a program running on
# Cairn (client requests, src/valgrind.c): each bug in bugs.c must be
# reported, with Cairn as the allocator, and a clean program and python3
# must get no report at all.
#
# usage: tests/valgrind/run.sh LIBDIR
#
# Valgrind is told not to put its own malloc in place of a preloaded one
# (--soname-synonyms=somalloc=nouserintercepts).  Prints PASS/FAIL lines
# "64/valgrind.NAME"; always exits 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=$(cd "${1:-$root/build}" && pwd)/libcairn.so
out=$root/build/tests/valgrind
mkdir -p "$out"
pass() { echo "PASS 64/valgrind.$1"; }
fail() { echo "FAIL 64/valgrind.$1: $2"; }

if ! command -v valgrind >/dev/null; then
    fail build "valgrind is not installed"
    exit 0
fi
if [ ! -f /usr/include/valgrind/memcheck.h ]; then
    fail build "valgrind/memcheck.h missing: the library was built without client requests"
    exit 0
fi
bin=$out/bugs
if ! gcc -O1 -g -Wall -Wextra -Werror "$here/bugs.c" -o "$bin" -ldl >"$out/build.log" 2>&1; then
    fail build "bugs.c does not compile: $(head -1 "$out/build.log")"
    exit 0
fi

VG=(valgrind --soname-synonyms=somalloc=nouserintercepts --leak-check=full --error-exitcode=99
    --suppressions="$here/thread-exit.supp")

# vg NAME ARGS...: run under memcheck with Cairn preloaded; log in $out/NAME.log
vg() {
    local name=$1
    shift
    # (a subshell, so bash's own "Aborted" note goes nowhere)
    (LD_PRELOAD=$lib timeout -k 10 300 "${VG[@]}" "$@" >"$out/$name.log" 2>&1; exit $?) 2>/dev/null
}

# expect BUG PATTERN...: memcheck must report every pattern, the program
# must have run on Cairn, and the report must point into bugs.c.
expect() {
    local bug=$1 rc pat
    shift
    vg "$bug" "$bin" "$bug"
    rc=$?
    if ! grep -q '^allocator: cairn' "$out/$bug.log"; then
        fail "$bug" "the program did not run on Cairn (see $out/$bug.log)"
        return
    fi
    for pat in "$@"; do
        if ! grep -Eq "$pat" "$out/$bug.log"; then
            fail "$bug" "memcheck did not report /$pat/ (exit $rc, see $out/$bug.log)"
            return
        fi
    done
    pass "$bug"
}

expect uaf-read 'Invalid read of size 1' 'at 0x[0-9A-F]+: main \(bugs.c:2[0-9]\)'
expect uaf-write 'Invalid write of size 1' "100 bytes inside a block of size 200 free'd"
expect overrun 'Invalid write of size 1' '0 bytes after a block of size 20 alloc'
expect uninit 'Conditional jump or move depends on uninitialised value'
expect leak 'definitely lost: 777 bytes in 1 blocks'
# A double free: memcheck reports it, then Cairn's own check aborts.
expect double-free 'Invalid free' 'cairn: free\(\): double free detected' 'signal 6'

# No false reports: a clean program (every call of the API) ...
vg clean "$bin" clean
rc=$?
if [ $rc -ne 0 ] || ! grep -q '^done' "$out/clean.log" || ! grep -q 'ERROR SUMMARY: 0 errors' "$out/clean.log" ||
    ! grep -q 'All heap blocks were freed' "$out/clean.log" || ! grep -q '^allocator: cairn' "$out/clean.log"; then
    fail clean "memcheck reported errors or leaks in a clean program (exit $rc, see $out/clean.log)"
else
    pass clean
fi
# ... and a real one (threads, many sizes).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
vg python "$py" -c '
import json, threading
def work(k):
    d = [{"k": i, "v": str(i) * (i % 50)} for i in range(3000 + k)]
    assert len(json.loads(json.dumps(d))) == 3000 + k
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("python ok")'
rc=$?
if [ $rc -ne 0 ] || ! grep -q '^python ok' "$out/python.log" || ! grep -q 'ERROR SUMMARY: 0 errors' "$out/python.log"; then
    fail python "memcheck reported errors in python3 on Cairn (exit $rc, see $out/python.log)"
elif ! grep -q 'cn_vg_malloc\|total heap usage: [1-9]' "$out/python.log"; then
    fail python "memcheck saw no blocks (see $out/python.log)"
else
    pass python
fi
exit 0
