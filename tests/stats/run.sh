#!/usr/bin/env bash
# tests/stats/run.sh -- Cairn's statistics: malloc_stats, mallinfo2 /
# mallinfo, malloc_info, mallopt, cairn_stats_json, CAIRN_STATS at exit,
# CAIRN_VERBOSE's warnings, and tools/cairn-report.
#
# usage: tests/stats/run.sh [LIBDIR]     (default: build)
#
# LIBDIR holds libcairn.so and libcairn.a; a 32-bit build (build32) runs
# under qemu-i386.  Prints "PASS TAG/stats.NAME" or "FAIL TAG/stats.NAME:
# reason" per check (TAG: 64 or 32); exits non-zero if any failed.
# shellcheck source=tests/script.sh
. "$(dirname "$0")/../script.sh" stats "${1:-build}"


work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CFLAGS=(-std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-deprecated-declarations -pthread)

prog=$work/stats
if ! "${CC:-gcc}" "${CFLAGS[@]}" "${arch[@]}" "$here/stats.c" -o "$prog" \
    -L"$libdir" -lcairn -Wl,-rpath,"$libdir" >"$work/build.log" 2>&1; then
    fail build "tests/stats/stats.c does not compile: $(head -3 "$work/build.log" | tr '\n' ' ')"
    exit 1
fi

# run NAME MODE [ENV...]: run the program; its stdout in $work/NAME.out,
# stderr in $work/NAME.err; returns its status.
run() {
    local name=$1 mode=$2
    shift 2
    env -u CAIRN_STATS -u CAIRN_VERBOSE "$@" timeout 120 "${run[@]}" "$prog" "$mode" \
        >"$work/$name.out" 2>"$work/$name.err"
}

# py NAME SCRIPT ARGS...: a python3 check; prints the reason on failure.
py() {
    local name=$1 script=$2
    shift 2
    local why
    if why=$(python3 -c "$script" "$@" 2>&1); then pass "$name"; else fail "$name" "${why:-check failed}"; fi
}

# --- malloc_stats and mallinfo2 ----------------------------------------------
if run pattern pattern; then
    py malloc_stats '
import re, sys
t = open(sys.argv[1]).read()
assert "size classes (bins): 48" in t, "no bins line"
row = [l.split() for l in t.splitlines() if re.match(r"\s+\d+\s+112\s", l)]
assert row, "no line for the 112-byte class"
b, size, slabs, pages, total, used, free, allocs, frees = map(int, row[0])
assert used >= 1000, f"112-B class shows {used} used, expected >= 1000"
assert total == used + free, "blocks != used + free"
assert allocs >= 1000 and frees == allocs - used, f"allocs {allocs} frees {frees}"
assert re.search(r"^heap 0 \(live\):", t, re.M), "no heap line"
assert re.search(r"large blocks: 1 live", t), "large block missing"
assert re.search(r"huge blocks: 1 live", t), "huge block missing"
m = re.search(r"Total \(incl. huge\): system bytes = (\d+), in use bytes = (\d+)", t)
assert m, "no totals line"
assert int(m.group(2)) >= 1000 * 112 + 200000 + (2 << 20), "in use bytes too small"
assert "bytes purged" in t and "peak:" in t, "no purge / peak lines"
' "$work/pattern.err"
    py mallinfo2 '
import sys
v = {}
for l in open(sys.argv[1]):
    k, *rest = l.split()
    v[k] = rest
small = int(v["uord_small"][0])
assert 1000 * 112 <= small <= 1000 * 112 + 65536, f"uordblks grew by {small} for 1000 x 100 B"
large = int(v["uord_large"][0])
assert 200000 <= large <= 200000 + 65536, f"uordblks grew by {large} for 200000 B (whole 64 KiB pages)"
h0, h1 = map(int, v["hblks"]); assert h1 == h0 + 1, f"hblks {h0} -> {h1}"
d0, d1 = map(int, v["hblkhd"]); assert d1 - d0 >= 2 << 20, f"hblkhd {d0} -> {d1}"
a = dict(zip(v["arena"][1::2], map(int, v["arena"][2::2]))); arena = int(v["arena"][0])
assert arena >= 4 << 20 and a["fordblks"] < arena, "arena / fordblks"
assert v["mallinfo_int"] == ["1", "1"], "mallinfo differs from mallinfo2"
' "$work/pattern.out"
else
    fail malloc_stats "program failed: $(tail -2 "$work/pattern.err" | tr '\n' ' ')"
fi

# --- malloc_info --------------------------------------------------------------
if run info info; then
    py malloc_info '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "malloc" and root.get("version") == "1", "root is not <malloc version=1>"
heaps = root.findall("heap")
assert heaps and heaps[0].get("nr") == "0", "no <heap nr=0>"
sizes = heaps[0].find("sizes")
assert sizes is not None, "no <sizes>"
for s in sizes.findall("size"):
    assert int(s.get("from")) <= int(s.get("to")) and int(s.get("count")) > 0, "bad <size>"
types = {t.get("type") for t in root.findall("total")}
assert {"fast", "rest", "mmap"} <= types, f"totals {types}"
mmap = [t for t in root.findall("total") if t.get("type") == "mmap"][0]
assert int(mmap.get("count")) == 1 and int(mmap.get("size")) >= 2 << 20, "mmap total"
cur = [s for s in root.findall("system") if s.get("type") == "current"]
assert cur and int(cur[0].get("size")) > 0, "no system current"
' "$work/info.out"
    if grep -q '^einval 1$' "$work/info.err"; then pass malloc_info_einval
    else fail malloc_info_einval "malloc_info(1, fp) did not fail with EINVAL"; fi
else
    fail malloc_info "program failed: $(tail -2 "$work/info.err" | tr '\n' ' ')"
fi

# --- cairn_stats_json -----------------------------------------------------------
check_json='
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("version", "options", "pool", "classes", "heaps", "large", "huge", "os", "totals", "peak"):
    assert k in d, f"no {k}"
c = [c for c in d["classes"] if c["size"] == 112]
assert c and c[0]["used"] >= 1000, "112-B class: fewer than 1000 used"
p = d["pool"]
assert p["mapped"] == p["descriptors"] + p["slabs"] + p["large"] + p["free"], \
    "mapped != descriptors + slabs + large + free"
assert d["large"]["count"] == 1 and d["huge"]["count"] == 1, "large / huge counts"
hb, hp = d["huge"]["bytes"], d["huge"]["peak"]
assert 2 << 20 <= hb < 3 << 20, f"huge bytes {hb} after a 3 MiB block shrank to 2 MiB"
assert hp >= 3 << 20, f"huge peak {hp} below the 3 MiB block"
assert any(h["nr"] == 0 and h["state"] == "live" for h in d["heaps"]), "no live heap 0"
assert "CAIRN_HUGE_THRESHOLD" in d["options"], "options missing"
'
# --- what the OS refused (qemu-i386 ignores RLIMIT_AS: 64-bit only) ----------
if [ "$tag" = 64 ]; then
    if run refused refused; then
        py os_refused '
import json, sys
out = open(sys.argv[1]).read().split()
assert out[:4] == ["null", "1", "errno", "12"], f"malloc(1 GiB) under the cap: {out}"
os_ = json.load(open(sys.argv[2]))["os"]
assert os_["map_refused"] >= 1 and os_["last_errno"] == 12, f"os statistics {os_}"
' "$work/refused.out" "$work/refused.err"
    else
        fail os_refused "program failed: $(tail -2 "$work/refused.err" | tr '\n' ' ')"
    fi
fi

if run json json; then
    py cairn_stats_json "$check_json" "$work/json.out"
    py cairn_stats_json_length '
import re, sys
m = re.search(r"lengths (\d+) (\d+) (\d+) small_ok (\d)", open(sys.argv[1]).read())
assert m, "no lengths line"
n1, n2, n3, ok = map(int, m.groups())
assert n1 == n2 == n3, f"lengths differ: {n1} {n2} {n3}"
assert ok == 1, "small buffer not a NUL-terminated 9-byte prefix"
assert n3 == len(open(sys.argv[2], "rb").read()), "returned length != document length"
' "$work/json.err" "$work/json.out"
else
    fail cairn_stats_json "program failed: $(tail -2 "$work/json.err" | tr '\n' ' ')"
fi

# --- CAIRN_STATS at exit ----------------------------------------------------------
if run exit_json exit CAIRN_STATS="json:$work/at-exit.json" && [ -s "$work/at-exit.json" ]; then
    py stats_env_json "$check_json" "$work/at-exit.json"
else
    fail stats_env_json "CAIRN_STATS=json:PATH wrote no file: $(head -2 "$work/exit_json.err" | tr '\n' ' ')"
fi
if run exit_pid exit CAIRN_STATS="json:$work/pid-%p.json"; then
    files=("$work"/pid-[0-9]*.json)
    if [ -s "${files[0]}" ]; then pass stats_env_json_pid
    else fail stats_env_json_pid "no pid-<pid>.json file for %p"; fi
else
    fail stats_env_json_pid "program failed"
fi
if run exit_text exit CAIRN_STATS=1 && grep -q 'malloc_stats' "$work/exit_text.err" &&
    grep -Eq '^ +6 +112 ' "$work/exit_text.err"; then
    pass stats_env_text
else
    fail stats_env_text "CAIRN_STATS=1 printed no report with the 112-B bin"
fi
if run exit_none exit && [ ! -s "$work/exit_none.err" ]; then pass stats_env_unset
else fail stats_env_unset "output on stderr without CAIRN_STATS"; fi

# --- options: CAIRN_VERBOSE, unknown and invalid variables -------------------------
run verbose exit CAIRN_VERBOSE=1 CAIRN_NO_SUCH_OPTION=1 CAIRN_STATS=0
if grep -q 'unknown option CAIRN_NO_SUCH_OPTION' "$work/verbose.err" &&
    grep -q '^cairn: CAIRN_STATS=' "$work/verbose.err" && grep -q '^cairn [0-9]' "$work/verbose.err"; then
    pass verbose_unknown_option
else
    fail verbose_unknown_option "CAIRN_VERBOSE=1 did not warn about CAIRN_NO_SUCH_OPTION"
fi
run quiet exit CAIRN_NO_SUCH_OPTION=1
if [ ! -s "$work/quiet.err" ]; then pass quiet_unknown_option
else fail quiet_unknown_option "a warning without CAIRN_VERBOSE: $(head -1 "$work/quiet.err")"; fi
run badstats exit CAIRN_STATS=bogus
if grep -q 'ignoring CAIRN_STATS=bogus' "$work/badstats.err"; then pass stats_env_invalid
else fail stats_env_invalid "no warning for CAIRN_STATS=bogus"; fi

# --- mallopt -----------------------------------------------------------------------
if run mallopt mallopt; then
    expect="mmap_threshold 1
hblks_unchanged 1
mmap_threshold_negative 0
trim_threshold 1
top_pad 1
arena_max 1
arena_test 1
mmap_max 1
perturb 1
mxfast_ok 1
mxfast_bad 0
unknown 1
trim_disable 1"
    if [ "$(cat "$work/mallopt.out")" = "$expect" ]; then pass mallopt
    else fail mallopt "unexpected results: $(diff <(echo "$expect") "$work/mallopt.out" | grep '^>' | tr '\n' ' ')"; fi
else
    fail mallopt "program failed"
fi

# --- threads: per-heap breakdown, statistics under churn ----------------------------
if run threads threads; then
    py threads '
import json, sys
d = json.load(open(sys.argv[1]))
live = [h for h in d["heaps"] if h["state"] == "live"]
assert len(live) >= 5, f"{len(live)} live heaps, expected >= 5 (main + 4 threads)"
holders = [h for h in live if any(c["size"] == 48 and c["used"] >= 200 for c in h["classes"])]
assert len(holders) >= 4, f"{len(holders)} heaps hold 200 blocks of 48 B, expected 4"
c = [c for c in d["classes"] if c["size"] == 48][0]
assert c["used"] >= 800, "48-B class total"
' "$work/threads.out"
else
    fail threads "program failed under concurrent statistics: $(tail -2 "$work/threads.err" | tr '\n' ' ')"
fi

# --- the statistics functions allocate nothing ---------------------------------------
if run noalloc noalloc; then
    read -r _ before after <"$work/noalloc.out"
    if [ -n "${before:-}" ] && [ "$before" = "$after" ]; then pass no_allocation
    else fail no_allocation "allocation count went from ${before:-?} to ${after:-?}"; fi
else
    fail no_allocation "program failed"
fi

if run exact exact; then
    read -r _ got want <"$work/exact.out"
    if [ -n "${got:-}" ] && [ "$got" = "$want" ]; then pass exact_counts
    else fail exact_counts "allocations counted ${got:-?}, made ${want:-?}"; fi
else
    fail exact_counts "program failed: $(head -c 300 "$work/exact.err")"
fi

# --- static linking: CAIRN_STATS works with libcairn.a too ----------------------------
if [ -f "$libdir/libcairn.a" ]; then
    if "${CC:-gcc}" "${CFLAGS[@]}" "${arch[@]}" "$here/stats.c" -o "$work/stats-static" \
        "$libdir/libcairn.a" -lpthread >"$work/static.log" 2>&1; then
        env -u CAIRN_VERBOSE CAIRN_STATS="json:$work/static.json" timeout 120 "${run[@]}" \
            "$work/stats-static" exit >/dev/null 2>&1
        if [ -s "$work/static.json" ]; then py static_json "$check_json" "$work/static.json"
        else fail static_json "CAIRN_STATS=json:PATH wrote nothing with libcairn.a"; fi
    else
        fail static_json "does not link with libcairn.a: $(head -2 "$work/static.log" | tr '\n' ' ')"
    fi
fi

# --- tools/cairn-report ------------------------------------------------------------------
if [ -s "$work/at-exit.json" ]; then
    if ! command -v gnuplot >/dev/null; then
        if "$root/tools/cairn-report" --no-chart "$work/at-exit.json" >"$work/report.txt" 2>&1 &&
            grep -q 'Size classes in use' "$work/report.txt"; then
            pass report
        else
            fail report "$(tail -1 "$work/report.txt")"
        fi
    elif "$root/tools/cairn-report" "$work/at-exit.json" -o "$work/chart.png" >"$work/report.txt" 2>&1 &&
        grep -q 'Size classes in use' "$work/report.txt" && grep -Eq '^ +6 +112 ' "$work/report.txt" &&
        [ "$(od -An -c -j1 -N3 "$work/chart.png" | tr -d ' ')" = PNG ]; then
        pass report
    else
        fail report "cairn-report: $(tail -1 "$work/report.txt")"
    fi
fi

exit $failed
