# work.py -- a Python workload for the real-program test: dicts, lists,
# strings, a JSON round trip and a big sort; prints digests only.
import hashlib
import json
import random

rng = random.Random(20240611)
letters = "abcdefghijklmnopqrstuvwxyz"
words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 14)))
         for _ in range(30000)]


class Item:
    __slots__ = ("key", "name", "weight", "tags")

    def __init__(self, key, name, weight, tags):
        self.key = key
        self.name = name
        self.weight = weight
        self.tags = tags


items = [Item(rng.randrange(1 << 30), rng.choice(words), rng.random(),
              rng.sample(words, rng.randint(0, 4)))
         for _ in range(200000)]
items.sort(key=lambda it: (it.name, it.weight, it.key))
h = hashlib.sha256()
for it in items[::97]:
    h.update(f"{it.key}:{it.name}:{it.weight:.9f}:{','.join(it.tags)}\n".encode())
print("sorted", len(items), h.hexdigest())

index = {}
for it in items:
    index.setdefault(it.name, []).append(it.key)
counts = sorted(((len(v), k) for k, v in index.items()), reverse=True)[:10]
print("top", counts)

records = [{"id": i, "name": w, "score": round(rng.random() * 1000, 3),
            "tags": {t: len(t) for t in rng.sample(words, 3)},
            "path": [w.upper(), w[::-1], w * 2]}
           for i, w in enumerate(rng.choice(words) for _ in range(60000))]
text = json.dumps(records, sort_keys=True)
back = json.loads(text)
assert back == records
print("json", len(text), hashlib.sha256(text.encode()).hexdigest())

s = []
for i in range(100000):
    s.append(words[i % len(words)] + str(i))
joined = "|".join(s)
parts = joined.split("|")
assert parts == s
print("strings", len(joined), hashlib.md5(joined.encode()).hexdigest())

del items, index, records, back
sets = [frozenset(rng.sample(range(1000), 20)) for _ in range(20000)]
uniq = len(set(sets))
print("sets", uniq, sum(len(x) for x in sets))
