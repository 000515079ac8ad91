"""Generate a large C source file for the gcc workload (deterministic).

Usage: python3 gen_c.py N OUT.c   (N functions)
"""
import random
import sys


def main():
    n, path = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(7)
    out = ["#include <stddef.h>\n#include <string.h>\n"]
    for s in range(n // 10 + 1):
        fields = "".join("    %s f%d;\n" % (rng.choice(["int", "long", "double", "char *", "unsigned"]), k)
                         for k in range(rng.randint(3, 12)))
        out.append("struct s%d {\n%s};\n" % (s, fields))
    out.append("static const int table[] = {%s};\n" % ",".join(str(rng.randint(0, 99999)) for _ in range(20000)))
    for f in range(n):
        body = []
        body.append("    int acc = a, arr[32];\n    memset(arr, 0, sizeof arr);\n")
        for k in range(rng.randint(4, 14)):
            kind = rng.randrange(4)
            if kind == 0:
                body.append("    for (int i{k} = 0; i{k} < b; i{k}++) {{ arr[i{k} & 31] += acc * {m} + table[(i{k} * {p}) % 20000]; acc ^= arr[(i{k} + {o}) & 31]; }}\n"
                            .format(k=k, m=rng.randint(1, 97), p=rng.randint(1, 997), o=rng.randint(1, 31)))
            elif kind == 1:
                cases = "".join("        case %d: acc = acc * %d + %d; break;\n" % (c, rng.randint(2, 9), rng.randint(0, 999))
                                for c in range(rng.randint(4, 24)))
                body.append("    switch (acc & 31) {\n%s        default: acc--; }\n" % cases)
            elif kind == 2:
                body.append("    if (acc > %d) acc = fn%d(acc - 1, b / 2); else acc += %d;\n"
                            % (rng.randint(0, 1000), rng.randrange(max(f, 1)), rng.randint(1, 50)))
            else:
                s = rng.randrange(n // 10 + 1)
                body.append("    { struct s%d v; memset(&v, 0, sizeof v); v.f0 = (__typeof__(v.f0))(size_t)acc; acc += (int)(size_t)v.f0 + (int)sizeof v; }\n" % s)
        body.append("    return acc + arr[b & 31];\n")
        out.append("int fn%d(int a, int b)\n{\n%s}\n" % (f, "".join(body)))
    with open(path, "w") as fh:
        fh.write("int fn0(int a, int b);\n")
        fh.write("".join(out))


main()
