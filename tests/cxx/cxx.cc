// cxx.cc -- C++'s operators new and delete on Cairn: they are Cairn's,
// every form works (arrays, nothrow, sized, aligned), and out of memory they
// keep C++'s rules: the new_handler is called until there is none, then
// std::bad_alloc is thrown, or the nothrow forms return nullptr.
// Prints "PASS TAG/cxx.NAME" or "FAIL TAG/cxx.NAME: reason" per check
// (TAG from CAIRN_TEST_TAG); run by tests/cxx/run.sh with Cairn preloaded.
#include <dlfcn.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

static const char *tag = "64";
static int failures;

static void result(const char *name, const std::string &why)
{
    if (why.empty()) {
        std::printf("PASS %s/cxx.%s\n", tag, name);
    } else {
        std::printf("FAIL %s/cxx.%s: %s\n", tag, name, why.c_str());
        failures++;
    }
    std::fflush(stdout);
}

// Where function f comes from (the file name of its shared object).
static std::string origin(void *f)
{
    Dl_info info;
    if (!dladdr(f, &info) || !info.dli_fname) return "(unknown)";
    return info.dli_fname;
}

static bool from_cairn(void *f) { return origin(f).find("libcairn") != std::string::npos; }

static void test_from_cairn()
{
    std::string why;
    struct { const char *name; void *f; } ops[] = {
        {"operator new", (void *)static_cast<void *(*)(std::size_t)>(&::operator new)},
        {"operator new[]", (void *)static_cast<void *(*)(std::size_t)>(&::operator new[])},
        {"operator delete", (void *)static_cast<void (*)(void *) noexcept>(&::operator delete)},
        {"sized operator delete", (void *)static_cast<void (*)(void *, std::size_t) noexcept>(&::operator delete)},
        {"aligned operator new",
         (void *)static_cast<void *(*)(std::size_t, std::align_val_t)>(&::operator new)},
        {"nothrow operator new",
         (void *)static_cast<void *(*)(std::size_t, const std::nothrow_t &) noexcept>(&::operator new)},
    };
    for (auto &op : ops)
        if (!from_cairn(op.f)) why += std::string(op.name) + " comes from " + origin(op.f) + "; ";
    result("from_cairn", why);
}

static bool aligned(void *p, std::size_t a) { return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0; }

static void test_forms()
{
    std::string why;
    // Plain, array, nothrow: written and freed through every delete form.
    for (std::size_t n : {1u, 16u, 100u, 4096u, 5000u, 200000u, 3u << 20}) {
        char *a = static_cast<char *>(::operator new(n));
        char *b = static_cast<char *>(::operator new[](n));
        char *c = static_cast<char *>(::operator new(n, std::nothrow));
        char *d = static_cast<char *>(::operator new[](n, std::nothrow));
        if (!c || !d) { why += "nothrow new returned nullptr for " + std::to_string(n) + "; "; continue; }
        std::memset(a, 1, n); std::memset(b, 2, n); std::memset(c, 3, n); std::memset(d, 4, n);
        if (a[n - 1] != 1 || b[n - 1] != 2 || c[n - 1] != 3 || d[n - 1] != 4)
            why += "blocks of " + std::to_string(n) + " overlap; ";
        ::operator delete(a, n);
        ::operator delete[](b, n);
        ::operator delete(c, std::nothrow);
        ::operator delete[](d, std::nothrow);
    }
    // Aligned, up to 2 MiB, through the aligned deletes.
    for (std::size_t al : {16u, 64u, 256u, 4096u, 65536u, 1u << 21}) {
        for (std::size_t n : {1u, 24u, 1000u, 70000u}) {
            std::align_val_t a{al};
            void *p = ::operator new(n, a), *q = ::operator new[](n, a);
            void *r = ::operator new(n, a, std::nothrow), *s = ::operator new[](n, a, std::nothrow);
            if (!aligned(p, al) || !aligned(q, al) || !aligned(r, al) || !aligned(s, al))
                why += "alignment " + std::to_string(al) + " not kept for " + std::to_string(n) + " bytes; ";
            if (r) std::memset(r, 5, n);
            if (s) std::memset(s, 6, n);
            std::memset(p, 7, n);
            std::memset(q, 8, n);
            ::operator delete(p, n, a);
            ::operator delete[](q, a);
            ::operator delete(r, a, std::nothrow);
            ::operator delete[](s, n, a);
        }
    }
    // Objects and containers, and delete of nullptr.
    struct alignas(128) big { char x[300]; };
    big *o = new big[5];
    if (!aligned(o, 128)) why += "new big[5] (alignas 128) misaligned; ";
    delete[] o;
    std::vector<std::string> v;
    for (int i = 0; i < 10000; i++) v.push_back(std::string(i % 100, 'x'));
    v.clear();
    ::operator delete(nullptr);
    ::operator delete[](nullptr);
    result("forms", why);
}

// A size no allocator can give (more than PTRDIFF_MAX), hidden from the
// compiler, which would refuse to compile a call with it.
static volatile std::size_t impossible_size = SIZE_MAX - 4096;
#define impossible (std::size_t(impossible_size))

static void test_bad_alloc()
{
    std::string why;
    try {
        void *p = ::operator new(impossible);
        why += "operator new(SIZE_MAX - 4096) returned " + std::to_string((std::uintptr_t)p) + "; ";
    } catch (const std::bad_alloc &) {
    }
    try {
        void *p = ::operator new[](impossible, std::align_val_t{64});
        why += "aligned operator new[] returned " + std::to_string((std::uintptr_t)p) + "; ";
    } catch (const std::bad_alloc &) {
    }
    if (::operator new(impossible, std::nothrow)) why += "nothrow new did not return nullptr; ";
    if (::operator new[](impossible, std::align_val_t{4096}, std::nothrow))
        why += "aligned nothrow new[] did not return nullptr; ";
    // Memory still works after.
    int *i = new int(42);
    if (*i != 42) why += "new int after the failures; ";
    delete i;
    result("bad_alloc", why);
}

static int handler_calls;
static void handler_thrice()
{
    if (++handler_calls == 3) std::set_new_handler(nullptr);
}
static void handler_throws()
{
    handler_calls++;
    throw std::bad_alloc();
}

static void test_new_handler()
{
    std::string why;
    handler_calls = 0;
    std::set_new_handler(handler_thrice);
    bool thrown = false;
    try {
        (void)::operator new(impossible);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    if (!thrown || handler_calls != 3)
        why += "throwing new: handler called " + std::to_string(handler_calls) + " times (3 expected), " +
               (thrown ? "then bad_alloc" : "no bad_alloc") + "; ";
    handler_calls = 0;
    std::set_new_handler(handler_thrice);
    void *p = ::operator new(impossible, std::nothrow);
    if (p || handler_calls != 3)
        why += "nothrow new: handler called " + std::to_string(handler_calls) + " times (3 expected); ";
    // A handler that throws: the nothrow form still returns nullptr.
    handler_calls = 0;
    std::set_new_handler(handler_throws);
    p = ::operator new(impossible, std::align_val_t{256}, std::nothrow);
    if (p || handler_calls != 1)
        why += "aligned nothrow new with a throwing handler: " + std::to_string(handler_calls) + " calls, " +
               (p ? "a block" : "nullptr") + "; ";
    std::set_new_handler(nullptr);
    result("new_handler", why);
}

int main()
{
    if (const char *t = std::getenv("CAIRN_TEST_TAG")) tag = t;
    test_from_cairn();
    test_forms();
    test_bad_alloc();
    test_new_handler();
    return failures ? 1 : 0;
}
