#!/usr/bin/env bash
# tests/bench/run.sh -- the benchmark harness (bench/run) tells the truth:
# its medians, ratios and geometric means follow from the runs it recorded,
# the runs are interleaved, a crashing allocator is reported (and fails the
# run only when it is Cairn), and a Cairn slower than a peer gets its place
# in "Where Cairn is behind" and a profile (when perf is installed).
#
# usage: tests/bench/run.sh [LIBDIR]     (default: build)
#
# Small parameters (a few seconds of runs); the stand-in allocators are
# glibc's malloc behind a counter (tests/bench/wrap.c).  Prints
# "PASS 64/bench.NAME" or "FAIL 64/bench.NAME: reason"; exits non-zero if
# any failed.
# shellcheck source=tests/script.sh
. "$(dirname "$0")/../script.sh" bench "${1:-build}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! make -s -C "$root/bench" >"$work/make.log" 2>&1; then
    fail build "make -C bench failed: $(tail -3 "$work/make.log" | tr '\n' ' ')"
    exit 1
fi
for v in "CRASH=20000" "SLOW=20000"; do
    if ! gcc -O1 -shared -fPIC -D"$v" -o "$work/${v%%=*}.so" "$here/wrap.c" 2>"$work/cc.log"; then
        fail build "wrap.c -D$v: $(head -3 "$work/cc.log" | tr '\n' ' ')"
        exit 1
    fi
done

# Few, short cases: a threaded one (two thread counts) and two single ones.
SMALL=(--workload larson,realloc,phases --threads 1,2 --reps 3 --no-build --timeout 120
       --param larson.ops=300k --param realloc.dmax=4Mi --param realloc.smax=256Ki
       --param phases.bytes=16Mi)
# bench [ARGS]: bench/run on them, measuring $lib as cairn (default: LIBDIR's).
bench() { CAIRN_LIB=${lib:-$so} "$root/bench/run" "${SMALL[@]}" "$@"; }

# 1. Cairn against glibc: the report's numbers, checked from its own CSVs.
bench --alloc cairn,glibc --no-profile --out "$work/a" >"$work/a.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    fail report "bench/run exited with $rc: $(tail -3 "$work/a.log" | tr '\n' ' ')"
else
    md=$work/a/latest.md
    missing=
    for s in "## Summary" "## Targets" "### Where Cairn is behind" "### Time x best, per case" \
             "### Peak RSS x leanest, per case" "### larson" "## Failures"; do
        grep -qF "$s" "$md" || missing="$missing '$s'"
    done
    if [ -n "$missing" ]; then fail report "latest.md lacks$missing"
    elif ! sed -n '/^## Failures/,$p' "$md" | grep -qx "None."; then fail report "failures reported: $(sed -n '/^## Failures/,$p' "$md" | head -3 | tr '\n' ' ')"
    else pass report
    fi
    python3 - "$work/a" >"$work/a.check" 2>&1 <<'EOF'
import csv, math, os, re, statistics, sys
d = sys.argv[1]
runs = list(csv.DictReader(open(os.path.join(d, "latest-runs.csv"))))
meds = [r for r in csv.DictReader(open(os.path.join(d, "latest.csv"))) if not r["workload"].startswith("micro:")]
bad = {"interleaved": [], "medians": [], "ratios": [], "geomean": []}
# interleaved: within a case, rep k of every allocator before rep k+1 of any
cases = {}
for r in runs:
    cases.setdefault((r["workload"], r["threads"]), []).append((int(r["rep"]), r["allocator"]))
for k, seq in cases.items():
    if seq != sorted(seq, key=lambda x: x[0]) or [a for _, a in seq[:2]] != ["cairn", "glibc"] or len(seq) != 6:
        bad["interleaved"].append("%s: %s" % (k, seq))
if len(cases) != 4:
    bad["interleaved"].append("%d cases, expected 4 (larson t=1,2, realloc, phases)" % len(cases))
for m in meds:
    mine = [r for r in runs if (r["workload"], r["threads"], r["allocator"]) ==
            (m["workload"], m["threads"], m["allocator"]) and r["status"] == "ok"]
    wall = statistics.median(float(r["wall_s"]) for r in mine)
    rss = statistics.median(int(r["peak_rss_kb"]) for r in mine)
    if abs(wall - float(m["time_median_s"])) > 1e-5 * wall or abs(rss - float(m["peak_rss_median_kb"])) > 0.5:
        bad["medians"].append("%s %s %s: csv %s/%s, runs %s/%s" % (m["workload"], m["threads"], m["allocator"],
                              m["time_median_s"], m["peak_rss_median_kb"], wall, rss))
for k in cases:
    per = [m for m in meds if (m["workload"], m["threads"]) == k]
    tbest = min(float(m["time_median_s"]) for m in per)
    rbest = min(float(m["peak_rss_median_kb"]) for m in per)
    for m in per:
        for got, want in ((float(m["time_ratio_to_best"]), float(m["time_median_s"]) / tbest),
                          (float(m["rss_ratio_to_leanest"]), float(m["peak_rss_median_kb"]) / rbest)):
            if abs(got - want) > 1e-4 * want:
                bad["ratios"].append("%s %s: %s, expected %.6f" % (k, m["allocator"], got, want))
md = open(os.path.join(d, "latest.md")).read()
for a in ("cairn", "glibc"):
    row = re.search(r"^\| %s \| ([\d.]+) \| ([\d.]+) \|" % a, md, re.M)
    mine = [m for m in meds if m["allocator"] == a]
    gt = math.exp(sum(math.log(float(m["time_ratio_to_best"])) for m in mine) / len(mine))
    gr = math.exp(sum(math.log(float(m["rss_ratio_to_leanest"])) for m in mine) / len(mine))
    if not row or abs(float(row.group(1)) - gt) > 0.0015 or abs(float(row.group(2)) - gr) > 0.0015:
        bad["geomean"].append("%s: report %s, from the CSV %.3f %.3f" % (a, row and row.groups(), gt, gr))
for k, v in bad.items():
    print(("FAIL %s: " % k + "; ".join(v)[:400]) if v else "PASS %s" % k)
EOF
    while read -r verdict name rest; do
        name=${name%:}
        if [ "$verdict" = PASS ]; then pass "$name"; else fail "${name:-check}" "$rest"; fi
    done <"$work/a.check"
fi

# 2. A peer that crashes: listed in Failures, left out of the geometric
#    means, and not fatal (exit 0).
BENCH_ALLOCS=crashy=$work/CRASH.so bench --alloc cairn,crashy --no-profile --out "$work/b" >"$work/b.log" 2>&1
rc=$?
md=$work/b/latest.md
if [ $rc -ne 0 ]; then fail peer_crash "bench/run exited with $rc for a peer's crash (should be 0)"
elif ! grep -q "^- larson t=1, crashy, rep 1: killed by signal 6 (SIGABRT)" "$md"; then
    fail peer_crash "Failures does not list the crash: $(sed -n '/^## Failures/,$p' "$md" | head -3 | tr '\n' ' ')"
elif ! grep -q "case(s) left out, see Failures" "$md"; then fail peer_crash "the failed cases were not left out of the geometric means"
else pass peer_crash
fi

# 3. Cairn crashing: the run fails (exit 1) and says so.
lib=$work/CRASH.so bench --alloc cairn,glibc --no-profile --out "$work/c" >"$work/c.log" 2>&1
rc=$?
if [ $rc -ne 1 ]; then fail cairn_crash "bench/run exited with $rc when Cairn crashed (should be 1)"
elif ! grep -q "failed or wrong cairn run" "$work/c.log"; then fail cairn_crash "no message: $(tail -2 "$work/c.log" | tr '\n' ' ')"
else pass cairn_crash
fi

# 4. Cairn slower than a peer: the targets say so, the case is listed as
#    behind, and (with perf) the slowest case is profiled.
lib=$work/SLOW.so bench --workload larson --threads 1 --alloc cairn,glibc \
    --out "$work/d" >"$work/d.log" 2>&1
rc=$?
md=$work/d/latest.md
if [ $rc -ne 0 ]; then fail behind "bench/run exited with $rc: $(tail -3 "$work/d.log" | tr '\n' ' ')"
elif ! grep -q "^| time geomean at or below every peer's | .* | \*\*missed\*\* |" "$md"; then
    fail behind "the time target is not marked missed: $(grep -m1 "every peer" "$md")"
elif ! grep -q "^- larson t=1: time [0-9.]* x glibc" "$md"; then
    fail behind "larson t=1 is not listed as behind glibc: $(sed -n '/^### Where Cairn is behind/,/^#/p' "$md" | tail -4 | tr '\n' ' ')"
elif grep -q "^- larson t=1: time .*within Cairn's runs" "$md"; then
    fail behind "a Cairn slower in every run is marked as within its runs: $(grep -m1 '^- larson t=1' "$md")"
elif ! grep -q "^### Profile of the slowest case: larson t=1" "$md"; then fail behind "no profile section"
elif command -v perf >/dev/null && perf record -q -o "$work/p.data" true >/dev/null 2>&1; then
    # perf works here: the profile must name the spinning allocator.
    if grep -q "^| [0-9.]*% | SLOW.so | misbehave |\|^| [0-9.]*% | SLOW.so | malloc |" "$md"; then pass behind
    else fail behind "the profile does not show the slow allocator: $(grep -A6 '^### Profile' "$md" | tail -4 | tr '\n' ' ')"
    fi
elif ! grep -q "^No profile: perf" "$md"; then fail behind "no profile and no reason given"
else pass behind
fi

exit $failed
