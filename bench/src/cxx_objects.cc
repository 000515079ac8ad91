// cxx_objects.cc -- a C++ program heavy on std::map, std::string,
// std::vector, std::unordered_map and shared_ptr, for the allocator
// benchmarks.  Usage: cxx_objects N
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {
    uint64_t s;
    uint64_t next()
    {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1DULL;
    }
    uint64_t below(uint64_t n) { return next() % n; }
};

std::string word(Rng &r)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "wa", "ze"};
    std::string w;
    for (uint64_t i = 0, n = 1 + r.below(6); i < n; i++) w += syl[r.below(10)];
    return w;
}

struct Node {
    std::string label;
    std::vector<std::shared_ptr<Node>> kids;
};

std::shared_ptr<Node> grow(Rng &r, int depth)
{
    auto n = std::make_shared<Node>();
    n->label = word(r);
    if (depth > 0)
        for (uint64_t i = 0, k = 1 + r.below(4); i < k; i++) n->kids.push_back(grow(r, depth - 1));
    return n;
}

size_t walk(const std::shared_ptr<Node> &n)
{
    size_t s = n->label.size();
    for (auto &k : n->kids) s += walk(k);
    return s;
}

} // namespace

int main(int argc, char **argv)
{
    long n = argc > 1 ? std::atol(argv[1]) : 200000;
    Rng r{88172645463325252ULL};
    size_t check = 0;
    for (int round = 0; round < 3; round++) {
        std::map<std::string, std::vector<int>> index;
        for (long i = 0; i < n; i++) index[word(r) + "/" + word(r)].push_back((int)i);
        for (auto it = index.begin(); it != index.end();) {
            if (it->second.size() == 1 && (r.below(2) == 0)) it = index.erase(it);
            else ++it;
        }
        check += index.size();

        std::unordered_map<long, std::string> cache;
        for (long i = 0; i < n; i++) {
            long k = (long)r.below((uint64_t)n / 2);
            auto &s = cache[k];
            if (s.size() > 200) s.clear();
            s += word(r);
            if (r.below(8) == 0) cache.erase((long)r.below((uint64_t)n / 2));
        }
        check += cache.size();

        std::vector<std::string> lines;
        for (long i = 0; i < n / 2; i++) {
            std::ostringstream os;
            os << word(r) << ' ' << i << ' ' << word(r) << ' ' << r.below(1000) / 7.0;
            lines.push_back(os.str());
        }
        std::sort(lines.begin(), lines.end());
        std::list<std::string> keep;
        for (auto &l : lines)
            if (l.size() % 3 == 0) keep.push_back(l.substr(0, l.size() / 2));
        check += keep.size() + lines.front().size();

        auto tree = grow(r, 9);
        check += walk(tree);
    }
    std::printf("checksum %zu\n", check);
    return 0;
}
