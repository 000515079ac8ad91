# redis.awk -- the data set of the redis workload (programs.sh), the same on
# every run.  Writes two files in the current directory:
#   load.resp  commands in the Redis protocol, for redis-cli --pipe: strings
#              (some of tens of KiB, grown by APPEND), counters, lists, sets,
#              sorted sets and hashes, then DEL or UNLINK of half the keys
#   dump.txt   one command a line, for redis-cli reading its standard input:
#              reads back every key left, in a deterministic order
# usage: awk -f redis.awk </dev/null

function rnd(n) {                       # Park and Miller: exact in doubles
    seed = (seed * 16807) % 2147483647
    return seed % n
}

# val(i, len): len characters of the pattern, starting at a place given by i.
function val(i, len) {
    return substr(pattern, 1 + (i * 7919) % (length(pattern) - len), len)
}

# emit(n): the command a[1] .. a[n], in the protocol.
function emit(n,    i, out) {
    out = "*" n "\r\n"
    for (i = 1; i <= n; i++) out = out "$" length(a[i]) "\r\n" a[i] "\r\n"
    printf "%s", out >"load.resp"
    ncmd++
}

function cmd2(c, k) { a[1] = c; a[2] = k; emit(2) }
function cmd3(c, k, x) { a[1] = c; a[2] = k; a[3] = x; emit(3) }
function cmd4(c, k, x, y) { a[1] = c; a[2] = k; a[3] = x; a[4] = y; emit(4) }

function dump(line) { print line >"dump.txt" }

BEGIN {
    seed = 20240611
    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    for (i = 0; i < 1000; i++) r = r substr(chars, 1 + rnd(36), 1)
    pattern = r
    while (length(pattern) < 100000) pattern = pattern substr(r, 1 + rnd(900), 100)

    ns = 3000; nl = 400; nset = 400; nz = 400; nh = 400; nc = 300

    # Strings: mostly small, one in forty of 10 to 80 KiB.
    for (i = 0; i < ns; i++) {
        len = (i % 40 == 0) ? 10000 + rnd(70000) : 1 + rnd(300)
        cmd3("SET", "s:" i, val(i, len))
    }
    for (i = 0; i < ns; i++) {
        if (i % 3 == 0) {
            m = 1 + rnd(3)
            for (k = 1; k <= m; k++) cmd3("APPEND", "s:" i, val(i + k, 1 + rnd(3000)))
        }
        if (i % 11 == 0) cmd4("SETRANGE", "s:" i, rnd(500), val(3 * i, 1 + rnd(200)))
        if (i % 17 == 0) cmd3("SET", "s:" i, val(5 * i, 1 + rnd(i % 34 == 0 ? 40000 : 100)))
    }
    for (k = 0; k < 5000; k++) cmd3("INCRBY", "c:" rnd(nc), rnd(1000))

    # Lists: pushed at both ends, ten elements a command, a few of 5 to 40 KiB.
    for (i = 0; i < nl; i++) {
        n = 1 + rnd(150)
        for (j = 0; j < n; j += 10) {
            a[1] = (j % 20 == 0) ? "LPUSH" : "RPUSH"
            a[2] = "l:" i
            for (k = 0; k < 10 && j + k < n; k++)
                a[3 + k] = val(i * 150 + j + k, rnd(60) == 0 ? 5000 + rnd(35000) : 1 + rnd(60))
            emit(2 + k)
        }
        if (i % 4 == 0) cmd3("LPOP", "l:" i, 1 + rnd(20))
        if (i % 5 == 0) cmd4("LTRIM", "l:" i, 2, -3)
    }

    # Sets: of integers (an intset until it has 512) or of strings.
    for (i = 0; i < nset; i++) {
        n = 1 + rnd(700)
        for (j = 0; j < n; j += 20) {
            a[1] = "SADD"
            a[2] = "set:" i
            for (k = 0; k < 20 && j + k < n; k++)
                a[3 + k] = (i % 2 == 0) ? rnd(100000) : val(rnd(50000), 1 + rnd(30))
            emit(2 + k)
        }
        if (i % 3 == 0)
            for (k = 0; k < 30; k++) cmd3("SREM", "set:" i, (i % 2 == 0) ? rnd(100000) : val(rnd(50000), 1 + rnd(30)))
    }

    # Sorted sets: a skiplist beyond 128 members or with long members.
    for (i = 0; i < nz; i++) {
        n = 1 + rnd(300)
        for (j = 0; j < n; j += 10) {
            a[1] = "ZADD"
            a[2] = "z:" i
            for (k = 0; k < 10 && j + k < n; k++) {
                a[3 + 2 * k] = rnd(100000) / 100
                a[4 + 2 * k] = (rnd(50) == 0) ? val(j + k, 100 + rnd(400)) : "m" rnd(5000)
            }
            emit(2 + 2 * k)
        }
        if (i % 3 == 0) cmd4("ZREMRANGEBYRANK", "z:" i, 0, rnd(10))
        if (i % 7 == 0) cmd4("ZINCRBY", "z:" i, "1.5", "m" rnd(5000))
    }

    # Hashes: a hash table beyond 128 fields or with values over 64 bytes.
    for (i = 0; i < nh; i++) {
        n = 1 + rnd(300)
        fields[i] = n
        for (j = 0; j < n; j += 10) {
            a[1] = "HSET"
            a[2] = "h:" i
            for (k = 0; k < 10 && j + k < n; k++) {
                a[3 + 2 * k] = "f:" (j + k)
                a[4 + 2 * k] = val(i + j + k, rnd(40) == 0 ? 1000 + rnd(20000) : 1 + rnd(50))
            }
            emit(2 + 2 * k)
        }
        if (i % 3 == 0)
            for (k = 0; k < 10; k++) cmd3("HDEL", "h:" i, "f:" rnd(n))
    }

    # Keys made from others.
    for (j = 0; j < 50; j++) {
        a[1] = "SUNIONSTORE"; a[2] = "su:" j; a[3] = "set:" (4 * j); a[4] = "set:" (4 * j + 1); a[5] = "set:" (4 * j + 2)
        emit(5)
        a[1] = "ZUNIONSTORE"; a[2] = "zu:" j; a[3] = 2; a[4] = "z:" (2 * j); a[5] = "z:" (2 * j + 1)
        emit(5)
    }

    # Half the keys go: DEL frees on the spot, UNLINK a large value in the
    # background thread.
    for (i = 1; i < ns; i += 2) cmd2(i % 4 == 1 ? "DEL" : "UNLINK", "s:" i)
    for (i = 1; i < nl; i += 2) {
        cmd2(i % 4 == 1 ? "DEL" : "UNLINK", "l:" i)
        cmd2(i % 4 == 1 ? "UNLINK" : "DEL", "set:" i)
        cmd2(i % 4 == 1 ? "DEL" : "UNLINK", "z:" i)
        cmd2(i % 4 == 1 ? "UNLINK" : "DEL", "h:" i)
    }

    # What is left, read back.
    for (i = 0; i < ns; i += 2) { dump("GET s:" i); dump("OBJECT ENCODING s:" i) }
    for (k = 0; k < nc; k++) dump("GET c:" k)
    for (i = 0; i < nl; i += 2) { dump("LRANGE l:" i " 0 -1"); dump("OBJECT ENCODING l:" i) }
    for (i = 0; i < nset; i += 2) { dump("SORT set:" i " ALPHA"); dump("OBJECT ENCODING set:" i) }
    for (i = 0; i < nz; i += 2) { dump("ZRANGE z:" i " 0 -1 WITHSCORES"); dump("OBJECT ENCODING z:" i) }
    for (i = 0; i < nh; i += 2) {
        line = "HMGET h:" i
        for (k = 0; k < fields[i]; k++) line = line " f:" k
        dump(line)
        dump("HLEN h:" i)
        dump("OBJECT ENCODING h:" i)
    }
    for (j = 0; j < 50; j++) { dump("SORT su:" j " ALPHA"); dump("ZRANGE zu:" j " 0 -1 WITHSCORES") }
    print ncmd
}
