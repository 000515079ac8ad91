#!/usr/bin/env bash
# tests/install/run.sh -- `make install` / `make uninstall`, pkg-config,
# cairn-run, the man page, and the library's other names in the build dir.
#
# usage: tests/install/run.sh [LIBDIR]     (default: build)
#
# Installs LIBDIR's library into a temporary prefix (and, staged, under a
# DESTDIR), builds and runs programs against the installed files, then
# uninstalls.  A 32-bit LIBDIR (build32) runs its programs under qemu-i386
# and skips cairn-run (which would preload it into 64-bit programs).
# Prints "PASS TAG/install.NAME" or "FAIL TAG/install.NAME: reason" per
# check (TAG: 64 or 32); exits non-zero if any failed.
# shellcheck source=tests/script.sh
. "$(dirname "$0")/../script.sh" install "${1:-build}"
# check NAME REASON CMD...: PASS if CMD succeeds, else FAIL with REASON.
check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

version=$(sed -n 's/^#define CAIRN_VERSION_\(MAJOR\|MINOR\|PATCH\) *//p' "$root/include/cairn.h" | paste -sd.)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
CC=${CC:-gcc}

mk() { make -C "$root" --no-print-directory M32="$m32" BUILD="$libdir" LDCONFIG=true "$@" >>"$work/make.log" 2>&1; }

# A program on the prefixed API and the statistics, that tells where its
# allocator lives (the library mapped into it).
cat >"$work/main.c" <<'EOF'
#include <cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    char *p = cairn_malloc(100), *q = malloc(200);
    if (!p || !q || cairn_usable_size(q) < 200) return 1;
    strcpy(p, "hello");
    char json[65536];
    size_t n = cairn_stats_json(json, sizeof json);
    int ok = n > 0 && n < sizeof json && strstr(json, "\"version\"") != NULL;
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096], lib[4096] = "";
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libcairn")) { strcpy(lib, strchr(line, '/')); lib[strcspn(lib, "\n")] = 0; break; }
    if (f) fclose(f);
    printf("%s %s json=%d lib=%s\n", p, cairn_version(), ok, lib);
    cairn_free(p);
    free(q);
    return 0;
}
EOF
# The simple API only, as a course's test program would use it.
cat >"$work/simple.c" <<'EOF'
#include <stdio.h>
#include <string.h>
void *allocate(unsigned int size);
void deallocate(void *p);
int main(void) {
    char *p = allocate(64);
    if (!p) return 1;
    strcpy(p, "allocated");
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int cairn = 0;
    while (f && fgets(line, sizeof line, f)) cairn |= strstr(line, "libcairn") != NULL;
    if (f) fclose(f);
    printf("%s cairn=%d\n", p, cairn);
    deallocate(p);
    return 0;
}
EOF

# --- make install into a prefix ---------------------------------------------------
if ! mk install PREFIX="$prefix"; then
    fail make_install "make install failed: $(tail -3 "$work/make.log" | tr '\n' ' ')"
    exit 1
fi
missing=
for f in lib/libcairn.so.1 lib/libcairn.so lib/libcairn.a include/cairn.h lib/pkgconfig/cairn.pc \
    share/man/man3/cairn.3 bin/cairn-run; do
    [ -e "$prefix/$f" ] || missing="$missing $f"
done
check files "missing:$missing" [ -z "$missing" ]
check symlink "lib/libcairn.so is not a link to libcairn.so.1" \
    [ "$(readlink "$prefix/lib/libcairn.so")" = libcairn.so.1 ]
soname=$(readelf -d "$prefix/lib/libcairn.so.1" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check soname "soname is '$soname', expected libcairn.so.1" [ "$soname" = libcairn.so.1 ]
check cairn_run_executable "bin/cairn-run is not executable" [ -x "$prefix/bin/cairn-run" ]

# --- pkg-config -------------------------------------------------------------------------
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
if ! command -v pkg-config >/dev/null; then
    fail pkgconfig_program "pkg-config is not installed (Debian package pkgconf)"
elif flags=$(pkg-config --cflags --libs cairn 2>"$work/pc.err"); then
    check pkgconfig_version "pkg-config --modversion is not $version" \
        [ "$(pkg-config --modversion cairn)" = "$version" ]
    # shellcheck disable=SC2086 # the flags are words
    if "$CC" "${arch[@]}" -O1 "$work/main.c" -o "$work/main" $flags >"$work/cc.log" 2>&1; then
        out=$(LD_LIBRARY_PATH=$prefix/lib timeout 60 "${run[@]}" "$work/main" 2>&1)
        case $out in
        "hello $version json=1 lib=$prefix/lib/libcairn.so.1") pass pkgconfig_program ;;
        *) fail pkgconfig_program "unexpected output: $out" ;;
        esac
        needed=$(readelf -d "$work/main" | sed -n 's/.*(NEEDED).*\[\(libcairn.*\)\]/\1/p')
        check needed_soname "the program needs '$needed', expected libcairn.so.1" [ "$needed" = libcairn.so.1 ]
    else
        fail pkgconfig_program "does not build with \$(pkg-config --cflags --libs cairn): $(head -2 "$work/cc.log" | tr '\n' ' ')"
    fi
    # shellcheck disable=SC2046 # the flags are words
    if "$CC" "${arch[@]}" -O1 "$work/main.c" -o "$work/main-static" $(pkg-config --cflags cairn) \
        "$prefix/lib/libcairn.a" -lpthread >"$work/cc-static.log" 2>&1 &&
        out=$(timeout 60 "${run[@]}" "$work/main-static" 2>&1) && [ "${out#hello "$version" json=1}" != "$out" ]; then
        pass static_library
    else
        fail static_library "a program linked with the installed libcairn.a failed: ${out:-$(head -1 "$work/cc-static.log")}"
    fi
else
    fail pkgconfig_program "pkg-config cannot find cairn: $(head -1 "$work/pc.err")"
fi

# --- cairn-run, from the installed location ----------------------------------------------
if [ "$tag" = 64 ]; then
    # From a directory outside the source tree, with a PATH that has only the
    # prefix's bin added: the installed library must be the one preloaded.
    out=$(cd "$work" && PATH=$prefix/bin:$PATH timeout 60 cairn-run python3 -c '
import re
m = re.search(r"\S*libcairn\S*", open("/proc/self/maps").read())
print(m.group(0) if m else "not on cairn")' 2>&1)
    check cairn_run "python3 ran on '$out', expected $prefix/lib/libcairn.so.1" \
        [ "$out" = "$prefix/lib/libcairn.so.1" ]
    out=$(cd "$work" && timeout 60 "$prefix/bin/cairn-run" --stats --verbose true 2>&1)
    if [[ $out == *"cairn $version"* && $out == *"CAIRN_STATS=1"* && $out == *malloc_stats* ]]; then
        pass cairn_run_options
    else
        fail cairn_run_options "--stats --verbose printed: $(echo "$out" | head -3 | tr '\n' ' ')"
    fi
    timeout 60 "$prefix/bin/cairn-run" --json "$work/run-%p.json" python3 -c 'pass' >/dev/null 2>&1
    files=("$work"/run-[0-9]*.json)
    if [ -s "${files[0]}" ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "${files[0]}" 2>/dev/null; then
        pass cairn_run_json
    else
        fail cairn_run_json "cairn-run --json PATH wrote no JSON"
    fi
    check cairn_run_missing_command "cairn-run without a command did not fail" \
        bash -c "! '$prefix/bin/cairn-run' >/dev/null 2>&1"
fi

# --- the man page ------------------------------------------------------------------------
if command -v man >/dev/null; then
    if MANWIDTH=80 man -l "$prefix/share/man/man3/cairn.3" 2>"$work/man.err" >"$work/man.txt" &&
        grep -q CAIRN_STATS "$work/man.txt" && grep -q 'double free detected' "$work/man.txt" &&
        grep -q mallinfo2 "$work/man.txt"; then
        pass man_page
    else
        fail man_page "man cannot render cairn.3 or it lacks options/messages/API: $(head -1 "$work/man.err")"
    fi
fi

# --- the library's other names in the build directory ----------------------------------------
for name in memory mymalloc malloc; do
    if [ ! -e "$libdir/lib$name.so" ]; then
        fail "lib$name" "$libdir/lib$name.so does not exist (run make)"
        continue
    fi
    if "$CC" "${arch[@]}" -O1 "$work/simple.c" -o "$work/simple-$name" -L "$libdir" -l"$name" >"$work/cc-$name.log" 2>&1; then
        out=$(LD_LIBRARY_PATH=$libdir timeout 60 "${run[@]}" "$work/simple-$name" 2>&1)
        check "lib$name" "gcc main.c -L $libdir -l$name: the program printed '$out'" [ "$out" = "allocated cairn=1" ]
    else
        fail "lib$name" "gcc main.c -L $libdir -l$name does not link: $(head -1 "$work/cc-$name.log")"
    fi
done

# --- make uninstall -------------------------------------------------------------------------------
if mk uninstall PREFIX="$prefix"; then
    left=$(find "$prefix" -type f -o -type l)
    check uninstall "files left: $(echo "$left" | tr '\n' ' ')" [ -z "$left" ]
else
    fail uninstall "make uninstall failed: $(tail -2 "$work/make.log" | tr '\n' ' ')"
fi

# --- staged: DESTDIR + PREFIX, as a package build does -------------------------------------------
stage=$work/stage
if mk install DESTDIR="$stage" PREFIX=/usr/local; then
    pc=$stage/usr/local/lib/pkgconfig/cairn.pc
    if [ -f "$stage/usr/local/lib/libcairn.so.1" ] && grep -q '^prefix=/usr/local$' "$pc" &&
        grep -q '^installed_lib=/usr/local/lib/libcairn.so.1$' "$stage/usr/local/bin/cairn-run" &&
        [ "$(PKG_CONFIG_SYSROOT_DIR='' PKG_CONFIG_PATH=${pc%/*} pkg-config --variable=libdir cairn)" = /usr/local/lib ]; then
        pass destdir
    else
        fail destdir "staged files or their paths are wrong (pc: $(grep -m1 '^libdir' "$pc" 2>/dev/null))"
    fi
    mk uninstall DESTDIR="$stage" PREFIX=/usr/local
    left=$(find "$stage" -type f -o -type l)
    check destdir_uninstall "files left: $(echo "$left" | tr '\n' ' ')" [ -z "$left" ]
else
    fail destdir "make install DESTDIR=... failed: $(tail -2 "$work/make.log" | tr '\n' ' ')"
fi

exit $failed
