#!/usr/bin/env bash
# install-peers.sh -- install the allocators Cairn is benchmarked against
# (jemalloc, tcmalloc-minimal, mimalloc, TBB's scalable allocator) and the
# tools the benchmark suite uses.  Needs root for apt-get; never fails: a
# peer that cannot be installed is skipped by the benchmarks with a note.
set -u
PEERS="libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 libtbbmalloc2"
TOOLS="valgrind gnuplot-nox sqlite3 time g++"
if [ "$(id -u)" != 0 ]; then
    echo "install-peers.sh: not root; not installing ($PEERS $TOOLS)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || echo "install-peers.sh: apt-get update failed; trying anyway" >&2
if ! apt-get install -y -qq $PEERS >/dev/null 2>&1; then
    echo "install-peers.sh: installing the peers together failed; trying one by one" >&2
    for p in $PEERS; do
        apt-get install -y -qq "$p" >/dev/null 2>&1 || echo "install-peers.sh: could not install $p (skipped)" >&2
    done
fi
for t in $TOOLS; do
    apt-get install -y -qq "$t" >/dev/null 2>&1 || echo "install-peers.sh: could not install $t (skipped)" >&2
done
exit 0
