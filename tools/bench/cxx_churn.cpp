// cxx_churn: the allocation mix of ordinary C++ code.
//
// Each round runs five short phases:
//   objects  - new/delete of polymorphic objects of several sizes, deleted
//              through the base class (sized delete of the dynamic type);
//   map      - std::map<int, std::string> inserts, lookups and erases with
//              strings both inside and outside the small-string buffer;
//   strings  - building strings by appends, std::to_string and concatenation;
//   shared   - std::make_shared and std::shared_ptr copies across a vector;
//   vectors  - std::vector growth by push_back without reserve.
#include "bench_common.h"

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Base {
    virtual ~Base() = default;
    virtual uint64_t value() const = 0;
};

template <size_t N>
struct Obj final : Base {
    unsigned char payload[N];
    explicit Obj(uint64_t seed) { std::memset(payload, (int)(seed & 0xff), N); }
    uint64_t value() const override { return payload[0] + N; }
};

Base *make_obj(bench_rng &r)
{
    uint64_t seed = bench_next(&r);
    switch (seed % 6) {
    case 0: return new Obj<8>(seed);
    case 1: return new Obj<24>(seed);
    case 2: return new Obj<40>(seed);
    case 3: return new Obj<72>(seed);
    case 4: return new Obj<120>(seed);
    default: return new Obj<200>(seed);
    }
}

uint64_t phase_objects(bench_rng &r, size_t n)
{
    std::vector<Base *> live(512, nullptr);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = bench_next(&r) % live.size();
        if (live[k]) {
            sum += live[k]->value();
            delete live[k];
        }
        live[k] = make_obj(r);
    }
    for (Base *b : live)
        delete b;
    return sum;
}

std::string word(bench_rng &r)
{
    size_t len = (size_t)bench_range(&r, 3, 48);
    std::string s;
    for (size_t i = 0; i < len; i++)
        s.push_back((char)('a' + bench_next(&r) % 26));
    return s;
}

uint64_t phase_map(bench_rng &r, size_t n)
{
    std::map<int, std::string> m;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int key = (int)(bench_next(&r) % 4096);
        switch (bench_next(&r) % 4) {
        case 0:
        case 1:
            m[key] = word(r);
            break;
        case 2: {
            auto it = m.find(key);
            if (it != m.end())
                sum += it->second.size();
            break;
        }
        default:
            m.erase(key);
        }
    }
    return sum + m.size();
}

uint64_t phase_strings(bench_rng &r, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        std::string line = "id=" + std::to_string(bench_next(&r) % 100000);
        line += ";name=";
        line += word(r);
        size_t parts = (size_t)bench_range(&r, 1, 6);
        for (size_t p = 0; p < parts; p++)
            line += "," + std::to_string(p) + ":" + word(r);
        std::string copy = line.substr(0, line.size() / 2) + line;
        sum += copy.size();
    }
    return sum;
}

struct Node {
    uint64_t a, b;
    std::string tag;
};

uint64_t phase_shared(bench_rng &r, size_t n)
{
    std::vector<std::shared_ptr<Node>> held(256);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = bench_next(&r) % held.size();
        if (bench_next(&r) % 3 == 0 && held[k]) {
            held[(k + 1) % held.size()] = held[k];   // share
        } else if (bench_next(&r) & 1) {
            held[k] = std::make_shared<Node>(Node{i, k, word(r)});
        } else {
            held[k] = std::shared_ptr<Node>(new Node{k, i, std::string()});
        }
        if (held[k])
            sum += held[k]->a + held[k].use_count();
    }
    return sum;
}

uint64_t phase_vectors(bench_rng &r, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)bench_range(&r, 1, 600);
        std::vector<uint32_t> a;
        std::vector<std::pair<uint64_t, double>> b;
        for (size_t j = 0; j < len; j++) {
            a.push_back((uint32_t)j);
            if (j % 3 == 0)
                b.emplace_back(j, (double)j);
        }
        sum += a.back() + b.size();
    }
    return sum;
}

} // namespace

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    uint64_t rounds = bench_scaled(30, scale);
    bench_rng r;
    bench_rng_seed(&r, 7);
    uint64_t sum = 0;
    double t0 = bench_now();
    for (uint64_t round = 0; round < rounds; round++) {
        sum += phase_objects(r, 200000);
        sum += phase_map(r, 60000);
        sum += phase_strings(r, 25000);
        sum += phase_shared(r, 100000);
        sum += phase_vectors(r, 6000);
    }
    std::printf("cxx_churn rounds=%llu checksum=%llu elapsed=%.3f final_rss_kib=%ld\n",
                (unsigned long long)rounds, (unsigned long long)sum,
                bench_now() - t0, bench_rss_kib());
    return 0;
}
