#!/usr/bin/env bash
# make demo: run a real program -- python3 with an object-heavy workload --
# on Cairn, show that it really ran on Cairn, and compare with glibc's malloc.
set -euo pipefail
cd "$(dirname "$0")/.."
lib="$PWD/build/libcairn.so"
[ -f "$lib" ] || { echo "build/libcairn.so is missing: run make" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/demo.py" <<'PY'
import json, random, sys, time, resource
maps = open("/proc/self/maps").read()
allocator = "Cairn" if "libcairn.so" in maps else "glibc malloc"
t = time.perf_counter()
random.seed(42)
people = [{"id": i, "name": "person%d" % i, "tags": [str(random.random()) for _ in range(5)]}
          for i in range(120000)]
people.sort(key=lambda p: p["tags"][0])
blob = json.dumps(people)
back = json.loads(blob)
index = {p["name"]: p for p in back}
words = {}
for p in back:
    for tag in p["tags"]:
        words[tag[:4]] = words.get(tag[:4], 0) + 1
digest = sum(len(k) * v for k, v in words.items()) + len(index) + len(blob)
elapsed = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"  {allocator:13s} digest={digest}  time={elapsed:.2f}s  peak RSS={rss:.0f} MiB")
PY
echo "python3 workload: 120k objects built, sorted, JSON round trip, indexed"
LD_PRELOAD="$lib" python3 "$work/demo.py" | tee "$work/cairn.out"
python3 "$work/demo.py" | tee "$work/glibc.out"
grep -q "Cairn " "$work/cairn.out" || { echo "demo: python3 did not run on Cairn" >&2; exit 1; }
if [ "$(grep -o 'digest=[0-9]*' "$work/cairn.out")" = "$(grep -o 'digest=[0-9]*' "$work/glibc.out")" ]; then
    echo "same output on both allocators: python3 ran on Cairn correctly"
else
    echo "demo: outputs differ" >&2; exit 1
fi
