#!/usr/bin/env bash
# tests/fuzz/make-corpus.sh -- (re)write the seed corpus in tests/fuzz/corpus/.
# Deterministic: the same files every time.  The format is in fuzz.c: an
# opcode byte (low 3 bits: 0/6 malloc, 1 calloc, 2 realloc, 3 aligned_alloc,
# 4 posix_memalign, 5/7 free; the rest picks the slot with the next byte),
# then size bytes (first byte < 0x80: small; 0x80..0xbf: up to 16 KiB;
# 0xc0..: up to 1 MiB, 0xf0..: up to 4 MiB, with one more byte), then a count
# byte for calloc or an alignment byte for the aligned operations.
set -u
cd "$(dirname "$0")" || exit 2
mkdir -p corpus
# seed NAME HEXBYTES...: write one seed file.
seed() {
    local name=$1 b esc=
    shift
    for b in "$@"; do esc+="\\x$b"; done
    printf '%b' "$esc" >"corpus/$name"
}
# malloc small to slots 0,1; free both
seed 01-malloc-free    00 00 10 00   08 00 20 01   05 00   0d 00
# calloc in slots 0..2 (8 x 12, 3 x 40, 1 x 300)
seed 02-calloc         01 00 30 00 07   09 00 50 00 02   11 00 81 2c 00
# realloc growth chain in slot 3: small -> medium -> large -> small
seed 03-realloc-grow   18 00 08 00   1a 00 40 00   1a 00 90 00   1a 00 c1 20 00   1a 00 05 00   1d 00
# aligned_alloc at 16, 4096, 64 KiB
seed 04-aligned        03 00 20 00 00   0b 00 a0 00 08   13 00 81 00 0c   05 00   0d 00   15 00
# posix_memalign at 32, 256, 8192
seed 05-memalign       04 00 40 00 01   0c 00 02 00 04   14 00 84 00 09
# one ~2 MiB and one ~1 MiB block, realloc between
seed 06-huge           00 00 f8 00 00   08 00 cf ff ff   02 00 c4 00 00   0a 00 f2 00 10   05 00 0d 00
# slots reused many times, sizes walking through the small classes
seed 07-churn          00 00 01 00  00 00 02 00  00 00 04 00  00 00 08 00  00 00 10 00  00 00 20 00  00 00 40 00  00 00 7f 00  00 00 80 00  00 00 88 00  05 00
# all 64 slots (upper slot bits from the second byte)
seed 08-slots          00 00 10 00  f8 00 10 00  00 01 10 00  f8 01 10 00  78 00 11 00  78 01 12 00  02 01 40 00  fa 01 80 10
# realloc(NULL) and realloc to 0
seed 09-realloc-edge   22 00 20 00   22 00 00 00   2a 00 00 05   2a 00 00 00
# a mix of everything, left live for the end-of-input cleanup
seed 10-mix            00 00 33 00  09 00 90 10 03  12 00 c0 40 00  1b 00 10 00 05  24 00 82 00 0b  2a 00 84 00  2d 00  33 00 30 00 0c  02 00 a0 00
