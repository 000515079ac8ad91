// work.cpp -- a C++ workload for the real-program test: standard containers
// and strings, objects handed between threads (so that blocks are freed by
// another thread than the one that allocated them), shared_ptr whose last
// owner is any thread, over-aligned types (operator new with align_val_t),
// and exceptions thrown and caught (the unwinder and __cxa_allocate_exception
// allocate).  Everything it prints is a deterministic digest; a broken
// invariant prints an error on stderr and exits with status 1.
//
// build: g++ -std=c++17 -O2 -pthread work.cpp -o work
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

[[noreturn]] void die(const std::string &what) {
    std::fprintf(stderr, "work.cpp: %s\n", what.c_str());
    std::exit(1);
}

void check(bool ok, const char *what) {
    if (!ok) die(std::string("check failed: ") + what);
}

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() { return s = mix(s); }
    uint64_t below(uint64_t n) { return next() % n; }
};

uint64_t hash_bytes(const void *p, size_t n, uint64_t h = 1469598103934665603ULL) {
    const unsigned char *c = static_cast<const unsigned char *>(p);
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

uint64_t hash_str(const std::string &s, uint64_t h = 1469598103934665603ULL) {
    return hash_bytes(s.data(), s.size(), h);
}

std::string make_text(Rng &r, size_t len) {
    std::string s;
    for (size_t i = 0; i < len; i++) s += static_cast<char>('a' + r.below(26));
    return s;
}

// ---------------------------------------------------------------------------
// 1. Containers and strings on one thread.

void containers() {
    Rng r(42);
    std::map<std::string, std::vector<uint32_t>> m;
    for (int i = 0; i < 200000; i++) {
        std::string key = "k" + std::to_string(r.below(20000));
        if (r.below(8) == 0) key += make_text(r, r.below(40));
        switch (r.below(4)) {
        case 0: m.erase(key); break;
        case 1: m[key].assign(r.below(50), static_cast<uint32_t>(i)); break;
        default: m[key].push_back(static_cast<uint32_t>(r.next())); break;
        }
    }
    uint64_t h = 0;
    size_t elems = 0;
    for (const auto &kv : m) {
        h = hash_str(kv.first, h);
        h = hash_bytes(kv.second.data(), kv.second.size() * sizeof(uint32_t), h);
        elems += kv.second.size();
    }
    std::printf("map %zu keys %zu elements %016llx\n", m.size(), elems, (unsigned long long)h);

    // Strings of all sizes, some of tens of KiB, grown and shrunk in place.
    std::unordered_map<uint64_t, std::string> u;
    for (int i = 0; i < 150000; i++) {
        uint64_t key = r.below(30000);
        switch (r.below(6)) {
        case 0: u.erase(key); break;
        case 1: u[key] = make_text(r, r.below(100)); break;
        case 2: {
            std::string &s = u[key];
            s.append(r.below(16) == 0 ? 20000 + r.below(60000) : r.below(300),
                     static_cast<char>('A' + key % 26));
            break;
        }
        case 3: {
            auto it = u.find(key);
            if (it != u.end()) {
                it->second.resize(it->second.size() / 2);
                it->second.shrink_to_fit();
            }
            break;
        }
        default: u.emplace(key, std::to_string(key * 7919) + "/" + std::to_string(i)); break;
        }
    }
    uint64_t sum = 0, bytes = 0;
    for (const auto &kv : u) {  // in any order: a sum of per-entry hashes
        sum += mix(hash_str(kv.second, kv.first));
        bytes += kv.second.size();
    }
    std::printf("unordered_map %zu keys %llu bytes %016llx\n", u.size(),
                (unsigned long long)bytes, (unsigned long long)sum);

    // Sorting, deduplicating and joining many small strings.
    std::vector<std::string> words;
    for (int i = 0; i < 100000; i++) words.push_back(make_text(r, 1 + r.below(12)));
    std::vector<std::string> sorted(words);
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    std::set<std::string> set(words.begin(), words.end());
    check(set.size() == sorted.size(), "set and sorted vector agree");
    std::ostringstream joined;
    for (size_t i = 0; i < sorted.size(); i += 3) joined << sorted[i] << ',';
    std::string all = joined.str();
    std::printf("words %zu unique %zu joined %zu %016llx\n", words.size(), sorted.size(),
                all.size(), (unsigned long long)hash_str(all));

    std::list<std::vector<std::string>> lists;
    std::deque<std::string> dq;
    for (int i = 0; i < 50000; i++) {
        if (r.below(3) == 0 && !lists.empty()) lists.pop_front();
        lists.emplace_back(1 + r.below(8), words[r.below(words.size())]);
        dq.push_back(words[i] + words[i + 1]);
        if (dq.size() > 1000) dq.pop_front();
    }
    uint64_t lh = 0;
    for (const auto &v : lists)
        for (const auto &s : v) lh = hash_str(s, lh);
    for (const auto &s : dq) lh = hash_str(s, lh);
    std::printf("list %zu deque %zu %016llx\n", lists.size(), dq.size(), (unsigned long long)lh);
}

// ---------------------------------------------------------------------------
// 2. A pipeline of threads: producers make messages, workers transform them
// (replacing most of their blocks), the consumers check and free them.

template <class T> class Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<T> items;
    int open;

  public:
    explicit Queue(int producers) : open(producers) {}
    void push(T v) {
        std::lock_guard<std::mutex> g(mu);
        items.push_back(std::move(v));
        cv.notify_one();
    }
    void done() {  // one producer has finished
        std::lock_guard<std::mutex> g(mu);
        if (--open == 0) cv.notify_all();
    }
    bool pop(T &out) {
        std::unique_lock<std::mutex> g(mu);
        cv.wait(g, [this] { return !items.empty() || open == 0; });
        if (items.empty()) return false;
        out = std::move(items.front());
        items.pop_front();
        return true;
    }
};

struct Blob {
    int key;
    std::vector<uint64_t> words;
    explicit Blob(int k) : key(k), words(64 + (k * 37) % 900) {
        for (size_t i = 0; i < words.size(); i++) words[i] = mix(k * 1000003ULL + i);
    }
    uint64_t digest() const { return hash_bytes(words.data(), words.size() * 8, key); }
};

// Blobs shared by all threads: whichever thread drops the last reference
// frees the blob, and a blob that has gone is made again.
class BlobCache {
    std::mutex mu;
    std::map<int, std::weak_ptr<const Blob>> cache;

  public:
    std::shared_ptr<const Blob> get(int key) {
        std::lock_guard<std::mutex> g(mu);
        std::weak_ptr<const Blob> &w = cache[key];
        std::shared_ptr<const Blob> b = w.lock();
        if (!b) {
            b = std::make_shared<const Blob>(key);
            w = b;
        }
        return b;
    }
};

struct alignas(64) Line {
    uint64_t v[8];
};

struct Msg {
    uint64_t id;
    std::string text;
    std::vector<uint64_t> data;
    std::shared_ptr<const Blob> blob;
    std::unique_ptr<Line> line;
    std::map<int, std::string> notes;
    std::string error;
};

class BadMessage : public std::runtime_error {
  public:
    std::vector<uint64_t> trail;
    BadMessage(const std::string &what, std::vector<uint64_t> t)
        : std::runtime_error(what), trail(std::move(t)) {}
};

// Recurses, leaving strings on every frame, and throws at the bottom.
uint64_t descend(uint64_t id, int depth, std::vector<uint64_t> &trail) {
    std::string frame = "frame " + std::to_string(depth) + " of " + std::to_string(id);
    trail.push_back(hash_str(frame));
    if (depth == 0) {
        if (id % 13 == 0) throw BadMessage("message " + std::to_string(id) + " is bad", trail);
        if (id % 29 == 0) throw std::out_of_range(frame + std::string(200, '!'));
        return trail.size();
    }
    return descend(id, depth - 1, trail) + frame.size();
}

constexpr int kProducers = 2, kWorkers = 3, kConsumers = 2;
constexpr uint64_t kPerProducer = 30000;

void pipeline() {
    Queue<std::unique_ptr<Msg>> q1(kProducers), q2(kWorkers);
    BlobCache blobs;
    std::atomic<uint64_t> sum{0}, count{0}, errors{0};
    std::vector<std::thread> threads;

    for (int p = 0; p < kProducers; p++)
        threads.emplace_back([&, p] {
            for (uint64_t i = 0; i < kPerProducer; i++) {
                uint64_t id = i * kProducers + p;
                Rng r(id);
                auto m = std::make_unique<Msg>();
                m->id = id;
                m->text = make_text(r, r.below(r.below(10) == 0 ? 5000 : 60));
                m->data.resize(r.below(200));
                for (auto &x : m->data) x = r.next();
                m->blob = blobs.get(static_cast<int>(r.below(500)));
                q1.push(std::move(m));
            }
            q1.done();
        });
    for (int w = 0; w < kWorkers; w++)
        threads.emplace_back([&] {
            std::unique_ptr<Msg> m;
            while (q1.pop(m)) {
                Rng r(m->id ^ 0xabcdef);
                std::string t;
                for (char c : m->text) t += static_cast<char>(c - 'a' + 'A');
                m->text = t + "/" + std::to_string(m->id);
                std::vector<uint64_t> d(m->data.rbegin(), m->data.rend());
                d.push_back(m->blob->digest());
                m->data.swap(d);
                if (r.below(3) == 0) m->blob = blobs.get(static_cast<int>(r.below(500)));
                m->line.reset(new Line);
                for (int k = 0; k < 8; k++) m->line->v[k] = m->id * k;
                for (int k = 0; k < static_cast<int>(r.below(6)); k++)
                    m->notes[k * 3] = std::string(r.below(100), static_cast<char>('0' + k));
                std::vector<uint64_t> trail;
                try {
                    descend(m->id, static_cast<int>(m->id % 20), trail);
                } catch (const BadMessage &e) {
                    m->error = std::string(e.what()) + " after " + std::to_string(e.trail.size());
                    errors++;
                } catch (const std::exception &e) {
                    m->error = e.what();
                    errors++;
                }
                q2.push(std::move(m));
            }
            q2.done();
        });
    for (int c = 0; c < kConsumers; c++)
        threads.emplace_back([&] {
            std::unique_ptr<Msg> m;
            while (q2.pop(m)) {
                check(reinterpret_cast<uintptr_t>(m->line.get()) % alignof(Line) == 0,
                      "alignas(64) object is aligned");
                uint64_t h = hash_str(m->text, m->id);
                h = hash_bytes(m->data.data(), m->data.size() * 8, h);
                h = hash_bytes(m->line->v, sizeof m->line->v, h);
                h ^= m->blob->digest();
                for (const auto &kv : m->notes) h = hash_str(kv.second, h + kv.first);
                h = hash_str(m->error, h);
                sum += mix(h);
                count++;
                m.reset();  // freed here: allocated by a producer and a worker
            }
        });
    for (auto &t : threads) t.join();
    std::printf("pipeline %llu messages %llu errors %016llx\n", (unsigned long long)count.load(),
                (unsigned long long)errors.load(), (unsigned long long)sum.load());
}

// ---------------------------------------------------------------------------
// 3. Over-aligned types: operator new(size_t, align_val_t) and its delete,
// some objects freed by another thread.

struct alignas(256) Mid {
    char c[100];
};
struct alignas(4096) Page {
    unsigned char b[6000];
};
static_assert(sizeof(Page) == 8192, "Page is two pages");

template <class T> void check_aligned(const T *p, const char *what) {
    if (reinterpret_cast<uintptr_t>(p) % alignof(T) != 0)
        die(std::string(what) + " is not aligned to " + std::to_string(alignof(T)));
}

void aligned() {
    Rng r(7);
    uint64_t h = 0;
    std::vector<std::unique_ptr<Page>> pages;
    std::vector<Mid *> mids;
    for (int i = 0; i < 3000; i++) {
        auto pg = std::make_unique<Page>();
        check_aligned(pg.get(), "Page");
        for (size_t k = 0; k < sizeof pg->b; k += 97) pg->b[k] = static_cast<unsigned char>(i + k);
        pages.push_back(std::move(pg));
        size_t n = 1 + r.below(20);
        Mid *m = new Mid[n];
        check_aligned(m, "Mid[]");
        for (size_t k = 0; k < n; k++) m[k].c[k % 100] = static_cast<char>(k);
        mids.push_back(m);
        std::vector<Line> lines(1 + r.below(300));
        check_aligned(lines.data(), "vector<Line>");
        for (size_t k = 0; k < lines.size(); k++) lines[k].v[k % 8] = k * i;
        h = hash_bytes(lines.data(), lines.size() * sizeof(Line), h);
        if (r.below(3) == 0) {  // free some at random, in no particular order
            size_t a = r.below(pages.size()), b = r.below(mids.size());
            h = hash_bytes(pages[a]->b, sizeof pages[a]->b, h);
            pages.erase(pages.begin() + a);
            delete[] mids[b];
            mids.erase(mids.begin() + b);
        }
    }
    Page *arr = new Page[5];
    check_aligned(arr, "Page[5]");
    arr[4].b[5999] = 1;
    delete[] arr;
    // The rest is freed by another thread.
    std::thread t([&] {
        for (auto &pg : pages) h = hash_bytes(pg->b, sizeof pg->b, h);
        pages.clear();
        for (Mid *m : mids) delete[] m;
        mids.clear();
    });
    t.join();
    std::printf("aligned %016llx\n", (unsigned long long)h);
}

// ---------------------------------------------------------------------------
// 4. Exceptions: nested, rethrown, carried between threads by futures, and
// allocation failures reported as bad_alloc.

void exceptions() {
    uint64_t h = 0;
    int caught = 0;
    for (uint64_t id = 0; id < 20000; id++) {
        try {
            try {
                std::vector<uint64_t> trail;
                descend(id, static_cast<int>(id % 30), trail);
                if (id % 7 == 0) throw std::string("a thrown string of length ") + std::to_string(id);
            } catch (const std::exception &e) {
                std::throw_with_nested(std::runtime_error("outer " + std::to_string(id)));
            }
        } catch (const std::string &s) {
            h = hash_str(s, h);
            caught++;
        } catch (const std::runtime_error &e) {
            h = hash_str(e.what(), h);
            try {
                std::rethrow_if_nested(e);
            } catch (const std::exception &inner) {
                h = hash_str(inner.what(), h);
            }
            caught++;
        }
    }

    std::vector<std::future<std::string>> futures;
    for (int i = 0; i < 400; i++)
        futures.push_back(std::async(std::launch::async, [i] {
            std::string s = "task " + std::to_string(i) + std::string(i * 10, '.');
            if (i % 3 == 0) throw std::invalid_argument(s);
            return s;
        }));
    for (auto &f : futures) {
        try {
            h = hash_str(f.get(), h);
        } catch (const std::invalid_argument &e) {
            h = hash_str(e.what(), h + 1);
            caught++;
        }
    }

    std::exception_ptr saved;
    std::thread t([&] {
        try {
            throw BadMessage("from a thread", std::vector<uint64_t>(1000, 3));
        } catch (...) {
            saved = std::current_exception();
        }
    });
    t.join();
    try {
        std::rethrow_exception(saved);
    } catch (const BadMessage &e) {
        h = hash_str(e.what(), h + e.trail.size());
        caught++;
    }
    saved = nullptr;

    // Requests no allocator can satisfy.
    volatile size_t huge = size_t(1) << 62;
    int bad = 0;
    try {
        char *p = new char[huge];
        p[0] = 1;
        delete[] p;
    } catch (const std::bad_alloc &) {
        bad++;
    }
    char *q = new (std::nothrow) char[huge];
    if (q == nullptr) bad++;
    delete[] q;
    try {
        std::vector<Page> v;
        v.reserve(huge / sizeof(Page) / 2);
    } catch (const std::bad_alloc &) {
        bad++;
    } catch (const std::length_error &) {
        bad += 10;
    }
    std::printf("exceptions %d caught, %d bad_alloc %016llx\n", caught, bad, (unsigned long long)h);
}

}  // namespace

int main() {
    containers();
    pipeline();
    aligned();
    exceptions();
    return 0;
}
