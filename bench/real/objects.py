"""Object-heavy Python workload for the allocator benchmarks.

Run under PYTHONMALLOC=malloc by the harness, so that every Python object is
a malloc/free (with the default pymalloc, objects up to 512 B would come from
Python's own arenas).  Usage: python3 objects.py N
"""
import json
import random
import sys


class Record:
    def __init__(self, ident, name, values, attrs):
        self.ident = ident
        self.name = name
        self.values = values
        self.attrs = attrs

    def score(self):
        return sum(self.values) * len(self.name)


def build(n, rng):
    recs = []
    for i in range(n):
        vals = [rng.random() for _ in range(rng.randint(1, 8))]
        attrs = {"k": i, "tag": "t%d" % (i % 97), "even": i % 2 == 0}
        recs.append(Record(i, "name-%d-%s" % (i, "x" * (i % 13)), vals, attrs))
    return recs


def tree(depth):
    if depth == 0:
        return (None, None)
    return (tree(depth - 1), tree(depth - 1))


def count(node):
    left, right = node
    return 1 if left is None else 1 + count(left) + count(right)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    rng = random.Random(1)
    check = 0
    for rnd in range(3):
        recs = build(n, rng)
        by_tag = {}
        for r in recs:
            by_tag.setdefault(r.attrs["tag"], []).append(r)
        check += sum(len(v) for v in by_tag.values())
        # text round trips
        text = "\n".join("%s,%d,%s" % (r.name, r.ident, r.attrs["tag"]) for r in recs)
        rows = [line.split(",") for line in text.split("\n")]
        check += len({row[2] for row in rows})
        blob = json.dumps([r.attrs for r in recs[: n // 4]])
        check += len(json.loads(blob))
        # sort, drop a random half, grow again
        recs.sort(key=Record.score)
        rng.shuffle(recs)
        del recs[: n // 2]
        recs.extend(build(n // 4, rng))
        check += len(recs)
        words = {}
        for r in recs:
            for part in r.name.split("-"):
                words[part] = words.get(part, 0) + 1
        check += len(words)
        del recs, by_tag, text, rows, blob, words
        check += count(tree(15 + rnd))
    print("checksum", check)


main()
