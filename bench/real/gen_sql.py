"""Generate the SQL script of the sqlite3 workload (deterministic).

Usage: python3 gen_sql.py N OUT.sql   (N rows)
Inserts N rows one statement at a time inside a transaction, builds indexes,
then runs aggregate, join, update, delete and sort queries.
"""
import random
import sys


def main():
    n, path = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(3)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    with open(path, "w") as f:
        f.write("PRAGMA journal_mode=OFF;\nPRAGMA cache_size=-32768;\n")
        f.write("CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL, note TEXT);\n")
        f.write("CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);\n")
        f.write("BEGIN;\n")
        for g in range(1000):
            f.write("INSERT INTO grp VALUES(%d,'%s-%d');\n" % (g, rng.choice(words), g))
        for i in range(n):
            name = "%s-%s-%d" % (rng.choice(words), rng.choice(words), rng.randrange(n))
            note = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
            f.write("INSERT INTO item VALUES(%d,'%s',%d,%.2f,'%s');\n"
                    % (i, name, rng.randrange(1000), rng.uniform(0, 1000), note))
        f.write("COMMIT;\n")
        f.write("CREATE INDEX item_name ON item(name);\nCREATE INDEX item_grp ON item(grp, price);\n")
        f.write("SELECT grp, count(*), round(sum(price), 2), max(name) FROM item GROUP BY grp ORDER BY 3 DESC LIMIT 3;\n")
        f.write("SELECT g.label, count(*) FROM item i JOIN grp g ON i.grp = g.id WHERE i.price < 100 GROUP BY g.label ORDER BY 2 DESC LIMIT 3;\n")
        f.write("SELECT count(*) FROM item a JOIN item b ON a.name = b.name AND a.id < b.id;\n")
        f.write("UPDATE item SET note = note || ' updated', price = price * 1.1 WHERE id % 3 = 0;\n")
        f.write("DELETE FROM item WHERE id % 5 = 0;\n")
        f.write("SELECT count(DISTINCT note), length(group_concat(name, ',')) FROM item;\n")
        f.write("SELECT name, note FROM item ORDER BY note DESC, name LIMIT 2 OFFSET %d;\n" % (n // 3))
        f.write("SELECT substr(note, 1, 5) AS k, count(*) FROM item GROUP BY k ORDER BY 2 DESC LIMIT 3;\n")
        f.write("CREATE TABLE copy AS SELECT * FROM item WHERE price > 500 ORDER BY name;\n")
        f.write("SELECT count(*), sum(length(note)) FROM copy;\n")


main()
