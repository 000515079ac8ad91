#!/usr/bin/env bash
# shellcheck disable=SC2317 # the work_* functions are called indirectly
# programs.sh -- real programs under LD_PRELOAD: each workload runs once on
# the system allocator and once with the library preloaded (into every
# process of the workload, the shell included); exit status, stdout and
# stderr must be identical.
#
# usage: programs.sh LIBRARY.so SCRATCH_DIR [TAG] [PATTERN]
set -u

lib=$1
scratch=$2
tag=${3:-64}
only=${4:-}
here=$(cd "$(dirname "$0")" && pwd)

failed=0
pass() { printf 'PASS %s/programs.%s\n' "$tag" "$1"; }
fail() {
    printf 'FAIL %s/programs.%s: %s\n' "$tag" "$1" "$2"
    failed=1
}

# ---------------------------------------------------------------------------
# Workloads.  Each runs in an empty directory (its cwd) and writes only what
# must be identical between the two runs.

work_python() { python3 "$here/work.py"; }

work_perl() { perl "$here/work.pl"; }

work_git() {
    export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=Cairn GIT_AUTHOR_EMAIL=cairn@example.org
    export GIT_COMMITTER_NAME=Cairn GIT_COMMITTER_EMAIL=cairn@example.org
    export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
    git init -q -b main repo && cd repo || return 1
    local i d
    for i in $(seq 0 39); do mkdir "dir$i"; done
    for i in $(seq 1 2000); do
        d=dir$((i % 40))
        printf 'file %d\nline two of %d\n%s\n' "$i" "$i" "$((i * i % 7919))" >"$d/f$i.txt"
    done
    git add . && git commit -q -m 'two thousand files' || return 1
    for i in $(seq 1 2000 | awk 'NR % 7 == 0'); do
        printf 'changed %d\n' "$i" >>"dir$((i % 40))/f$i.txt"
    done
    rm -r dir3 && git add -A && git commit -q -m 'changes' || return 1
    export GIT_COMMITTER_DATE='2024-01-02T00:00:00Z'
    git mv dir5 moved5 && git commit -q -m 'rename' || return 1
    git log --stat | sha256sum
    git gc --quiet || return 1
    git fsck --full --strict || return 1
    git rev-list --all --objects | sort | sha256sum
    git status --porcelain | wc -l
    git diff --stat HEAD~2 HEAD | tail -1
}

work_gcc() {
    # A few thousand lines of C: functions with loops, switches and structs.
    awk 'BEGIN {
        print "#include <stdio.h>";
        print "struct s { long a, b; char name[16]; };";
        for (i = 0; i < 400; i++) {
            printf "static long f%d(long x) {\n", i;
            printf "    struct s v = { x, %d, \"f%d\" };\n", i * 7 + 1, i;
            printf "    for (int k = 0; k < %d; k++) {\n", i % 13 + 2;
            printf "        switch ((v.a + k) %% 4) {\n";
            printf "        case 0: v.a = v.a * %d + v.b; break;\n", i % 17 + 3;
            printf "        case 1: v.b ^= v.a >> %d; break;\n", i % 5 + 1;
            printf "        case 2: v.a += v.name[k %% 4]; break;\n";
            printf "        default: v.b = v.b * 3 - k;\n";
            printf "        }\n    }\n    return (v.a ^ v.b) & 0xffffff;\n}\n";
        }
        print "int main(void) {";
        print "    long sum = 0;";
        for (i = 0; i < 400; i++) printf "    sum = sum * 31 + f%d(%d);\n", i, i;
        print "    printf(\"%ld\\n\", sum);";
        print "    return 0;";
        print "}";
    }' >gen.c
    wc -l <gen.c
    gcc -std=gnu11 -O2 -Wall -c gen.c -o gen.o || return 1
    sha256sum gen.o
    gcc gen.o -o gen || return 1
    ./gen
}

work_sqlite() {
    {
        echo 'CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val INTEGER);'
        echo 'BEGIN;'
        awk 'BEGIN { s = 7; for (i = 1; i <= 100000; i++) {
            s = (s * 1103515245 + 12345) % 2147483648;
            printf "INSERT INTO t VALUES(%d, %d, '\''n%d'\'', %d);\n", i, s % 97, int(s / 65536) % 5000, s % 100003;
        } }'
        echo 'COMMIT;'
        echo 'CREATE INDEX t_grp ON t(grp, val);'
        echo 'CREATE INDEX t_name ON t(name);'
        echo 'SELECT count(*), sum(val), count(DISTINCT name) FROM t;'
        echo 'SELECT grp, count(*), sum(val), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;'
        echo 'SELECT id, name, val FROM t WHERE grp = 13 ORDER BY val DESC, id LIMIT 20;'
        echo 'SELECT name, count(*) AS c FROM t GROUP BY name ORDER BY c DESC, name LIMIT 15;'
        echo 'SELECT a.grp, count(*) FROM t a JOIN t b ON a.name = b.name AND a.id < b.id WHERE a.grp < 5 GROUP BY a.grp ORDER BY a.grp;'
        echo 'UPDATE t SET val = val + 1 WHERE grp % 3 = 0;'
        echo 'DELETE FROM t WHERE val % 10 = 0;'
        echo 'SELECT count(*), sum(val) FROM t;'
        echo 'VACUUM;'
        echo 'SELECT group_concat(name, ",") FROM (SELECT name FROM t ORDER BY val, id LIMIT 50);'
    } >work.sql
    sqlite3 db.sqlite <work.sql
}

# C++: containers, strings, threads, over-aligned new, exceptions (work.cpp).
work_cpp() {
    g++ -std=c++17 -O2 -pthread "$here/work.cpp" -o work || return 1
    ./work
}

# Python's own tests of its allocation-heavy types and modules, one module a
# run, with the Debian python (whose test package libpython3.X-testsuite
# provides).  Per module: the exit status, the number of tests and unittest's
# verdict, and the tests that failed; the full logs stay in the cwd.
work_pytests() {
    export PYTHONHASHSEED=0
    local m
    for m in test_dict test_list test_tuple test_set test_unicode test_bytes test_re \
        test_json test_pickle test_deque test_heapq test_collections test_itertools \
        test_string test_struct test_long test_array test_gc test_queue; do
        /usr/bin/python3 -m test -v "$m" >"$m.log" 2>&1
        printf '%s: status %d, %s\n' "$m" $? "$(awk '
            /^Ran [0-9]+ tests? in / { ran = $1 " " $2 " " $3; next }
            ran != "" && verdict == "" && NF > 0 { verdict = $0 }
            END { print ran ", " verdict }' "$m.log")"
        grep -E '^(FAIL|ERROR): ' "$m.log" | sort
    done
}

# Redis: a server on a free port of 127.0.0.1, without persistence (and with
# two I/O threads if there are processors enough); a redis-benchmark run on
# database 1 while a deterministic data set is loaded into database 0
# (redis.awk), read back and digested, reloaded (DEBUG RELOAD) and digested
# again.  The benchmark's numbers are not compared, only its exit status.
# The server must map the preloaded library, must not crash, and must end
# with status 0 on SHUTDOWN NOSAVE; none is left running, whatever happens.
work_redis() {
    redis_pid=
    redis_stop() {
        if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
            kill -KILL "$redis_pid"
            wait "$redis_pid" 2>/dev/null
        fi
        redis_pid=
    }
    trap redis_stop EXIT
    trap 'exit 143' HUP INT TERM
    # Two I/O threads (whose buffers the main thread frees) only where they
    # have processors to spin on: with fewer, everything slows down tenfold.
    local io=1
    [ "$(nproc 2>/dev/null || echo 1)" -ge 4 ] && io=2
    redis_start() {
        local try i
        for try in 1 2 3 4 5 6 7 8 9 10; do
            redis_port=$((20000 + (RANDOM * 32768 + RANDOM + try) % 30000))
            redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
                --daemonize no --logfile '' --dir "$PWD" --enable-debug-command yes \
                --io-threads "$io" --io-threads-do-reads yes >redis.log 2>&1 &
            redis_pid=$!
            for i in $(seq 400); do
                grep -q 'Ready to accept connections' redis.log && break
                kill -0 "$redis_pid" 2>/dev/null || break
                sleep 0.05
            done
            # Make sure that what answers on the port is this server.
            if [ "$(timeout 10 redis-cli -p "$redis_port" INFO server 2>/dev/null |
                tr -d '\r' | sed -n 's/^process_id://p')" = "$redis_pid" ]; then
                return 0
            fi
            redis_stop
            grep -q 'Address already in use' redis.log || break
        done
        echo "redis-server did not start: $(tail -3 redis.log)" >&2
        return 1
    }
    cli() { timeout 120 redis-cli -p "$redis_port" "$@"; }

    awk -f "$here/redis.awk" </dev/null >/dev/null || return 1
    redis_start || return 1
    echo "server started"
    if [ -n "${LD_PRELOAD:-}" ]; then
        if ! grep -qF "/${LD_PRELOAD##*/}" "/proc/$redis_pid/maps"; then
            echo "redis-server does not have ${LD_PRELOAD##*/} mapped" >&2
            return 1
        fi
    elif grep -q libcairn "/proc/$redis_pid/maps"; then
        echo "redis-server has libcairn mapped without LD_PRELOAD" >&2
        return 1
    fi
    echo "allocator checked"

    timeout 120 redis-benchmark -p "$redis_port" --dbnum 1 -q -n 20000 -c 20 -r 10000 -d 100 \
        -t set,get,lpush,lpop,incr,hset,sadd,zadd >bench.out 2>&1 &
    local bench=$!
    cli --pipe <load.resp | grep '^errors:' || return 1
    cli DBSIZE
    cli <dump.txt >dump1.out || return 1
    sha256sum <dump1.out
    wait "$bench"
    echo "benchmark status $?"
    cli PING
    cli -n 1 FLUSHDB ASYNC
    cli DBSIZE
    cli DEBUG DIGEST
    cli DEBUG RELOAD
    cli DEBUG DIGEST
    cli <dump.txt >dump2.out || return 1
    sha256sum <dump2.out
    cli SHUTDOWN NOSAVE
    local i st=R
    for i in $(seq 600); do         # up to 30 s, until it has exited
        read -r _ _ st _ 2>/dev/null <"/proc/$redis_pid/stat" || st=Z   # reaped
        [ "$st" = Z ] && break
        sleep 0.05
    done
    if [ "$st" != Z ]; then
        echo "redis-server is still running after SHUTDOWN NOSAVE" >&2
        return 1
    fi
    wait "$redis_pid"
    echo "server exit status $?"
    redis_pid=
    if grep -E 'REDIS BUG REPORT|crashed by signal|Guru Meditation|ASSERTION|cairn:' redis.log >&2; then
        echo "the server's log reports a crash" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------

# run_one NAME NEED...: the workload work_NAME, plain and preloaded.  Each
# NEED is a command, or a file given by its absolute path, that the workload
# needs: a missing one is a failure, not a reason to skip.
run_one() {
    local name=$1 need d rc1 rc2
    shift
    case $name in *$only*) ;; *) return 0 ;; esac
    for need in "$@"; do
        if { [[ $need == /* ]] && [ ! -e "$need" ]; } ||
            { [[ $need != /* ]] && ! command -v "$need" >/dev/null 2>&1; }; then
            fail "$name" "$need is not installed (Debian package $(package_of "$need"); .ci/run installs it)"
            return 0
        fi
    done
    d=$(mktemp -d "$scratch/$name.XXXXXX")
    mkdir -p "$d/plain" "$d/cairn"
    (cd "$d/plain" && timeout 300 bash -c "$(declare -f "work_$name"); here='$here'; work_$name") \
        >"$d/plain.out" 2>"$d/plain.err"
    rc1=$?
    (cd "$d/cairn" && timeout 300 env LD_PRELOAD="$lib" \
        bash -c "$(declare -f "work_$name"); here='$here'; work_$name") \
        >"$d/cairn.out" 2>"$d/cairn.err"
    rc2=$?
    if [ "$rc1" -ne 0 ]; then
        fail "$name" "the workload fails even without the library (status $rc1): $(head -c 300 "$d/plain.err" | tr '\n' ' ')"
    elif [ "$rc2" -ne 0 ]; then
        fail "$name" "exit status $rc2 under LD_PRELOAD (0 without); stderr: $(head -c 300 "$d/cairn.err" | tr '\n' ' ')"
    elif ! cmp -s "$d/plain.out" "$d/cairn.out"; then
        fail "$name" "stdout differs under LD_PRELOAD: $(diff "$d/plain.out" "$d/cairn.out" | head -5 | tr '\n' ' ')"
    elif ! cmp -s "$d/plain.err" "$d/cairn.err"; then
        fail "$name" "stderr differs under LD_PRELOAD: $(diff "$d/plain.err" "$d/cairn.err" | head -5 | tr '\n' ' ')"
    elif [ ! -s "$d/plain.out" ]; then
        fail "$name" "the workload printed nothing"
    else
        pass "$name"
        rm -rf "$d"
        return 0
    fi
    echo "  (outputs kept in $d)" >&2
}

# package_of NEED: the Debian package that provides it.
package_of() {
    case $1 in
    redis-cli | redis-benchmark) echo redis-tools ;;
    /usr/lib/python3.*/test/*) echo "libpython$(echo "$1" | cut -d/ -f4 | sed 's/python//')-testsuite" ;;
    python3 | /usr/bin/python3) echo python3 ;;
    *) echo "${1##*/}" ;;
    esac
}

if [ ! -f "$lib" ]; then
    for n in python perl git gcc sqlite cpp pytests redis; do
        case $n in *$only*) fail "$n" "library $lib not found" ;; esac
    done
    exit 1
fi
mkdir -p "$scratch"
# The version of the Debian python, whose test package work_pytests runs.
pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)
run_one python python3
run_one perl perl
run_one git git
run_one gcc gcc
run_one sqlite sqlite3
run_one cpp g++
run_one pytests /usr/bin/python3 "/usr/lib/python$pyver/test/test_dict.py"
run_one redis redis-server redis-cli redis-benchmark
exit "$failed"
