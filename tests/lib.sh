# shellcheck shell=bash
# lib.sh -- helpers for tests/run.sh (sourced, not run).
#
# Results: every test line is "PASS name" or "FAIL name: reason"; the
# counters below add them up.

npass=0
nfail=0
failures=()

# A result the runner itself decides (build errors, crashes, timeouts).
result_fail() {
    printf 'FAIL %s: %s\n' "$1" "$2"
    nfail=$((nfail + 1))
    failures+=("$1")
}

# count_log LOG: add the PASS/FAIL lines of a finished program's output;
# sets log_pass and log_fail to its own counts.
count_log() {
    local log=$1 line
    log_pass=$(grep -c '^PASS ' "$log")
    log_fail=$(grep -c '^FAIL ' "$log")
    npass=$((npass + log_pass))
    nfail=$((nfail + log_fail))
    while IFS= read -r line; do
        line=${line#FAIL }
        failures+=("${line%%:*}")
    done < <(grep '^FAIL ' "$log")
}

# run_logged NAME TIMEOUT LOG CMD...: run a test program, stream its output,
# keep a copy in LOG, and turn an abnormal end into a FAIL line.
run_logged() {
    local name=$1 limit=$2 log=$3 rc
    shift 3
    # timeout puts the program in a process group of its own, whose id is
    # timeout's pid: as soon as timeout returns, whatever is left of that
    # group (a subtest's child that outlived the program and still holds
    # the output pipe) is killed.
    # shellcheck disable=SC2016 # the inner shell expands these
    bash -c 'timeout -k 10 "$@" & p=$!; wait "$p"; rc=$?; kill -KILL -- "-$p" 2>/dev/null; exit "$rc"' \
        run_logged "$limit" "$@" </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    count_log "$log"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        result_fail "$name" "timed out after ${limit}s (killed by the runner)"
    elif [ "$rc" -ne 0 ] && [ "$log_fail" -eq 0 ]; then
        result_fail "$name" "exited with status $rc without a FAIL line"
    elif [ "$log_pass" -eq 0 ] && [ "$log_fail" -eq 0 ]; then
        result_fail "$name" "printed no results"
    fi
}

# build NAME OUT CFLAGS... : compile; on failure report and return 1.
build() {
    local name=$1 out=$2 log
    shift 2
    log="$out.build.log"
    if ! "${CC:-gcc}" "$@" -o "$out" >"$log" 2>&1; then
        result_fail "$name" "does not compile or link: $(grep -m1 -E 'error|undefined' "$log" || head -1 "$log")"
        sed 's/^/    /' "$log" | head -20
        return 1
    fi
}
