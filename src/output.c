/* output.c -- messages on stderr with a small formatter of our own:
 * the allocator must never call printf, which may allocate. */
#include "cairn/internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>

typedef struct cn_buf { char *p; size_t len, cap; } cn_buf;

static void put_char(cn_buf *b, char c) {
    if (b->len + 1 < b->cap) b->p[b->len] = c;
    b->len++;
}
static void put_str(cn_buf *b, const char *s) {
    while (*s) put_char(b, *s++);
}
static void put_unsigned(cn_buf *b, unsigned long long v, unsigned base) {
    char tmp[24];
    int i = 0;
    do { tmp[i++] = "0123456789abcdef"[v % base]; v /= base; } while (v);
    while (i) put_char(b, tmp[--i]);
}

static size_t format_va(char *out, size_t cap, const char *fmt, va_list ap) {
    cn_buf b = { out, 0, cap };
    for (; *fmt; fmt++) {
        if (*fmt != '%') { put_char(&b, *fmt); continue; }
        fmt++;
        int longs = 0;
        while (*fmt == 'l' || *fmt == 'z') { longs = *fmt == 'z' ? 3 : longs + 1; fmt++; }
        switch (*fmt) {
        case 's': { const char *s = va_arg(ap, const char *); put_str(&b, s ? s : "(null)"); break; }
        case 'c': put_char(&b, (char)va_arg(ap, int)); break;
        case 'd': {
            long long v = longs == 0 ? va_arg(ap, int) : longs == 3 ? (long long)va_arg(ap, ptrdiff_t)
                        : longs == 1 ? va_arg(ap, long) : va_arg(ap, long long);
            if (v < 0) { put_char(&b, '-'); v = -v; }
            put_unsigned(&b, (unsigned long long)v, 10);
            break;
        }
        case 'u': case 'x': {
            unsigned long long v = longs == 0 ? va_arg(ap, unsigned) : longs == 3 ? va_arg(ap, size_t)
                                 : longs == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned long long);
            put_unsigned(&b, v, *fmt == 'x' ? 16 : 10);
            break;
        }
        case 'p': put_str(&b, "0x"); put_unsigned(&b, (uintptr_t)va_arg(ap, void *), 16); break;
        case '%': put_char(&b, '%'); break;
        default: put_char(&b, '%'); if (*fmt) put_char(&b, *fmt); else fmt--; break;
        }
    }
    if (cap) out[b.len < cap ? b.len : cap - 1] = 0;
    return b.len;
}

size_t cn_format(char *buf, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_va(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

void cn_message(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_va(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cn_os_write(2, buf, n < sizeof buf ? n : sizeof buf - 1);
}

_Noreturn void cn_fatal(const char *fn, const char *what, const void *p) {
    cn_message("cairn: %s(): %s (%p)\n", fn, what, p);
    abort();
}
