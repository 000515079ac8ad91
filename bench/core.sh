#!/usr/bin/env bash
# core.sh -- Cairn's small core benchmarks, cairn against mimalloc (and glibc
# for reference), runs interleaved: cairn, mimalloc, glibc, cairn, mimalloc, ...
#
#   bench/core.sh                 # 5 repetitions, about 3-5 minutes
#   REPS=7 bench/core.sh
#   ALLOCS="cairn mimalloc jemalloc glibc" bench/core.sh
#   CAIRN_LIB=/path/to/libcairn.so bench/core.sh
#   CALLGRIND=0 bench/core.sh     # skip the instruction counts
#
# Benchmarks (sources in bench/src/):
#   random_small  50M x (free a random one of 1000 live slots, malloc 8-512 B)
#   prodcons      20M blocks of 16-256 B malloc'ed by one thread, freed by another
#   hold64        1 GiB of live 64 B blocks: peak RSS and space overhead
#   callgrind     instructions per malloc+free pair, net of the loop's own cost:
#                 free(malloc(16)), and the random_small loop
# The table gives medians with the spread (min-max) and the ratio cairn/mimalloc
# (below 1 = cairn better, for every row).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/build/bench
REPS=${REPS:-5}
ALLOCS=${ALLOCS:-"cairn mimalloc glibc"}
CALLGRIND=${CALLGRIND:-1}
TIMEOUT=${TIMEOUT:-300}
RS_OPS=${RS_OPS:-50M}
PC_BLOCKS=${PC_BLOCKS:-20M}
HOLD_BYTES=${HOLD_BYTES:-1Gi}

make -s -C "$ROOT/bench" >/dev/null || { echo "core.sh: building the benchmarks failed" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ---- allocators ----
lib_of() { # name -> library path, "-" for none; empty if unknown
    if [ "$1" = cairn ] && [ -n "${CAIRN_LIB:-}" ]; then echo "$CAIRN_LIB"; return; fi
    awk -v n="$1" '$1 == n { print $2 }' "$ROOT/bench/allocators.txt" | sed "s|^\([^/-]\)|$ROOT/\1|"
}
declare -A LIB
USE=()
for a in $ALLOCS; do
    l=$(lib_of "$a")
    if [ -z "$l" ]; then echo "note: unknown allocator '$a', skipped"; continue; fi
    if [ "$l" != - ] && [ ! -e "$l" ]; then echo "note: $a skipped: $l not found"; continue; fi
    [ "$l" = - ] && l=
    if [ "$a" = cairn ]; then   # measure a snapshot: the library may be rebuilt meanwhile
        cp "$l" "$TMP/libcairn.so" && l=$TMP/libcairn.so
        echo "cairn: $(lib_of cairn), sha256 $(sha256sum "$l" | cut -c1-12)"
    fi
    w=$(LD_PRELOAD=$l "$BIN/random_small" which 2>&1)
    if [ -n "$l" ] && [ "${w#malloc_from=}" != "$(readlink -f "$l")" ] && [ "${w#malloc_from=}" != "$l" ]; then
        echo "note: $a skipped: preloading $l did not replace malloc ($w)"; continue
    fi
    LIB[$a]=$l
    USE+=("$a")
done
[ ${#USE[@]} -gt 0 ] || { echo "core.sh: no allocator to run" >&2; exit 1; }

DATA=$TMP/data   # lines: row alloc value
ERRS=$TMP/errors

# run ALLOC PROG ARGS... -> prints the result line, or records a failure
run() {
    local a=$1; shift
    local out rc
    out=$(LD_PRELOAD=${LIB[$a]} timeout "$TIMEOUT" "$@" 2>"$TMP/stderr")
    rc=$?
    if [ $rc -ne 0 ]; then
        local why="exit $rc"
        [ $rc -eq 124 ] && why="timeout after ${TIMEOUT}s"
        [ $rc -gt 128 ] && [ $rc -ne 124 ] && why="signal $((rc - 128))"
        echo "$a: $(basename "$1") ${*:2}: $why: $(head -c 300 "$TMP/stderr")" >>"$ERRS"
        return 1
    fi
    grep '^result ' <<<"$out"
}
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

echo "core.sh: allocators: ${USE[*]}; $REPS repetitions"
for ((r = 1; r <= REPS; r++)); do
    printf 'rep %d/%d:' "$r" "$REPS"
    for a in "${USE[@]}"; do
        if out=$(run "$a" "$BIN/random_small" ops="$RS_OPS"); then
            echo "random_small:time $a $(field time <<<"$out")" >>"$DATA"
        fi
    done
    for a in "${USE[@]}"; do
        if out=$(run "$a" "$BIN/prodcons" blocks="$PC_BLOCKS"); then
            echo "prodcons:time $a $(field time <<<"$out")" >>"$DATA"
        fi
    done
    for a in "${USE[@]}"; do
        if out=$(run "$a" "$BIN/hold64" bytes="$HOLD_BYTES"); then
            echo "hold64:time $a $(field time <<<"$out")" >>"$DATA"
            echo "hold64:peak_rss_mib $a $(field peak_rss_kb <<<"$out" | awk '{ printf "%.1f", $1 / 1024 }')" >>"$DATA"
            echo "hold64:overhead_pct $a $(field overhead <<<"$out" | awk '{ printf "%.2f", $1 * 100 }')" >>"$DATA"
            echo "hold64:rss_after_free_mib $a $(field rss_after_free_kb <<<"$out" | awk '{ printf "%.1f", $1 / 1024 }')" >>"$DATA"
        fi
    done
    printf ' done\n'
done

# ---- instruction counts (deterministic: one run per point) ----
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null; then
    echo "callgrind: instructions per malloc+free pair"
    # total Ir of a run of ALLOC PROG ARGS
    ir() {
        local a=$1; shift
        LD_PRELOAD=${LIB[$a]} timeout "$TIMEOUT" valgrind --tool=callgrind \
            --callgrind-out-file="$TMP/cg.out" "$@" >/dev/null 2>"$TMP/cg.err" || {
            echo "$a: callgrind $(basename "$1") ${*:2}: failed: $(tail -c 300 "$TMP/cg.err")" >>"$ERRS"
            return 1
        }
        awk '/^(summary|totals):/ { print $2; exit }' "$TMP/cg.out"
    }
    N1=200000 N2=1200000
    # per-op Ir = (Ir(N2) - Ir(N1)) / (N2 - N1), minus the same for the fake allocator
    perop() {
        local a=$1; shift
        local i1 i2 f1 f2
        i1=$(ir "$a" "$@" ops=$N1) && i2=$(ir "$a" "$@" ops=$N2) &&
            f1=$(ir "$a" "$@" ops=$N1 fake=1) && f2=$(ir "$a" "$@" ops=$N2 fake=1) || return 1
        awk -v a="$i1" -v b="$i2" -v c="$f1" -v d="$f2" -v n=$((N2 - N1)) \
            'BEGIN { printf "%.1f", ((b - a) - (d - c)) / n }'
    }
    for a in "${USE[@]}"; do
        v=$(perop "$a" "$BIN/random_small" mode=pair size=16) && echo "callgrind:Ir_pair16 $a $v" >>"$DATA"
        v=$(perop "$a" "$BIN/random_small" mode=ring) && echo "callgrind:Ir_ring_8-512 $a $v" >>"$DATA"
    done
fi

# ---- table ----
have() { grep -q "^[^ ]* $1 " "$DATA" 2>/dev/null; }
COLS=()
for a in cairn mimalloc glibc "${USE[@]}"; do
    case " ${COLS[*]:-} " in *" $a "*) continue ;; esac
    for u in "${USE[@]}"; do [ "$u" = "$a" ] && COLS+=("$a"); done
done
echo
awk -v cols="${COLS[*]}" '
    { v[$1, $2] = v[$1, $2] " " $3; if (!($1 in seen)) { seen[$1] = 1; rows[++nr] = $1 } }
    function stats(s,   n, a, i, j, t) {
        n = split(s, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        lo = a[1]; hi = a[n]; cnt = n
    }
    END {
        nc = split(cols, c, " ")
        printf "%-28s", "benchmark (unit)"
        for (i = 1; i <= nc; i++) printf " %-24s", c[i] " median (min-max)"
        printf " %s\n", "cairn/mimalloc"
        for (r = 1; r <= nr; r++) {
            row = rows[r]; printf "%-28s", row
            for (i = 1; i <= nc; i++) {
                if ((row, c[i]) in v) {
                    stats(v[row, c[i]]); m[c[i]] = med
                    cell = (cnt > 1) ? sprintf("%.4g (%.4g-%.4g)", med, lo, hi) : sprintf("%.4g", med)
                } else { m[c[i]] = ""; cell = "-" }
                printf " %-24s", cell
            }
            if (m["cairn"] != "" && m["mimalloc"] != "" && m["mimalloc"] + 0 != 0)
                printf " %.2f", m["cairn"] / m["mimalloc"]
            else printf " n/a"
            printf "\n"
        }
    }' "$DATA"
echo
echo "units: time in seconds; peak_rss/rss_after_free in MiB; overhead_pct = (peak RSS - RSS before - live) / live;"
echo "       Ir = instructions per malloc+free pair, net of the benchmark loop. Lower is better everywhere."
if [ -s "$ERRS" ]; then
    echo
    echo "FAILURES:"
    cat "$ERRS"
    exit 1
fi
