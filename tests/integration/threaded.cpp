// A threaded C++ program that churns std::map / std::string / std::shared_ptr
// and passes heap objects between threads through queues, so that most
// objects are deleted by a thread other than the one that created them.
//
// Whatever the interleaving, it prints the same checksums: every figure is a
// sum (mod 2^64) of per-object hashes that do not depend on thread timing.
// It exits 1 if an internal consistency check fails.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "test_rng.hpp"

namespace {

std::uint64_t hash_str(const std::string& s)
{
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s)
        h = (h ^ c) * 1099511628211ULL;
    return h;
}

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "threaded: consistency check failed: %s\n", what);
    std::exit(1);
}

// ---- phase 1: per-thread map/string churn --------------------------------

std::uint64_t map_churn(unsigned tid)
{
    Rng rng{ 1000 + tid };
    std::map<std::string, std::vector<std::uint32_t>> m;
    std::unordered_map<std::uint64_t, std::string> u;
    for (int op = 0; op < 200000; op++) {
        std::uint64_t r = rng.next();
        std::string key = "k" + std::to_string(r % 5000) + std::string(r % 40, 'a' + tid % 26);
        switch (r % 7) {
        case 0:
        case 1:
        case 2: {
            auto& v = m[key];
            v.push_back(static_cast<std::uint32_t>(r >> 32));
            break;
        }
        case 3:
            m.erase(key);
            break;
        case 4:
            u[r % 3000] = key + key;
            break;
        case 5:
            u.erase(r % 3000);
            break;
        default: {
            auto it = m.lower_bound(key);
            if (it != m.end() && !it->second.empty())
                it->second.resize(it->second.size() / 2);
            break;
        }
        }
    }
    std::uint64_t h = 0;
    for (auto& kv : m) {
        h += hash_str(kv.first) * 31;
        for (auto x : kv.second)
            h += mix(x);
    }
    for (auto& kv : u)
        h += mix(kv.first) ^ hash_str(kv.second);
    return h;
}

// ---- phase 2: shared_ptr copies released from many threads ---------------

struct Item {
    std::string text;
    std::vector<std::uint64_t> values;
    std::shared_ptr<Item> peer;
};

// ---- phase 3: producer -> consumer -> finisher pipeline ------------------

struct Msg {
    std::uint64_t id;
    std::string body;
    std::vector<std::uint64_t> extra;
    std::unique_ptr<std::map<int, std::string>> attrs;
};

template <class T>
class Queue {
public:
    void push(T v)
    {
        {
            std::lock_guard<std::mutex> g(mu_);
            q_.push_back(std::move(v));
        }
        cv_.notify_one();
    }
    // returns false when closed and drained
    bool pop(T& out)
    {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return !q_.empty() || closed_; });
        if (q_.empty())
            return false;
        out = std::move(q_.front());
        q_.pop_front();
        return true;
    }
    void close()
    {
        {
            std::lock_guard<std::mutex> g(mu_);
            closed_ = true;
        }
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<T> q_;
    bool closed_ = false;
};

std::unique_ptr<Msg> make_msg(std::uint64_t id)
{
    auto m = std::make_unique<Msg>();
    m->id = id;
    Rng r{ id * 7 + 3 };
    m->body.assign(r.below(300) + 1, static_cast<char>('A' + id % 26));
    m->body += std::to_string(id);
    m->extra.resize(r.below(64));
    for (auto& x : m->extra)
        x = r.next();
    if (id % 5 == 0) {
        m->attrs = std::make_unique<std::map<int, std::string>>();
        for (int i = 0; i < static_cast<int>(id % 11); i++)
            (*m->attrs)[i] = std::string(static_cast<std::size_t>(i) * 3, 'x');
    }
    return m;
}

std::uint64_t msg_hash(const Msg& m)
{
    std::uint64_t h = mix(m.id) + hash_str(m.body);
    for (auto x : m.extra)
        h += mix(x);
    if (m.attrs)
        for (auto& kv : *m.attrs)
            h += mix(static_cast<std::uint64_t>(kv.first)) + hash_str(kv.second);
    return h;
}

}  // namespace

int main()
{
    const unsigned kThreads = 4;

    // phase 1
    std::vector<std::uint64_t> part(kThreads);
    {
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < kThreads; t++)
            ts.emplace_back([t, &part] { part[t] = map_churn(t); });
        for (auto& t : ts)
            t.join();
    }
    std::uint64_t phase1 = 0;
    for (auto x : part)
        phase1 += x;

    // phase 2
    std::uint64_t phase2 = 0;
    std::atomic<std::uint64_t> destroyed{ 0 };
    for (int round = 0; round < 5; round++) {
        std::vector<std::shared_ptr<Item>> items;
        for (int i = 0; i < 20000; i++) {
            auto it = std::make_shared<Item>();
            it->text = "item-" + std::to_string(round) + "-" + std::to_string(i);
            it->values.assign(static_cast<std::size_t>(i % 50), static_cast<std::uint64_t>(i));
            if (!items.empty() && i % 3 == 0)
                it->peer = items[static_cast<std::size_t>(i) / 2];
            items.push_back(std::move(it));
        }
        std::vector<std::uint64_t> sums(kThreads);
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < kThreads; t++) {
            // each thread owns copies; drops them in its own order
            std::vector<std::shared_ptr<Item>> mine(items);
            ts.emplace_back([t, &sums, mine = std::move(mine)]() mutable {
                Rng r{ 77 + t };
                std::uint64_t s = 0;
                for (auto& p : mine) {
                    s += hash_str(p->text);
                    for (auto v : p->values)
                        s += mix(v);
                    if (p->peer)
                        s += hash_str(p->peer->text);
                }
                for (std::size_t i = mine.size(); i > 1; i--)
                    std::swap(mine[i - 1], mine[r.below(i)]);
                for (auto& p : mine)
                    p.reset();
                sums[t] = s;
            });
        }
        std::uint64_t count_before = items.size();
        items.clear();  // the main thread lets go first
        for (auto& t : ts)
            t.join();
        for (unsigned t = 0; t < kThreads; t++) {
            if (sums[t] != sums[0])
                fail("threads saw different shared items");
            phase2 += sums[t];
        }
        destroyed += count_before;
    }

    // phase 3
    const std::uint64_t kPerProducer = 100000;
    Queue<std::unique_ptr<Msg>> q1, q2;
    std::atomic<std::uint64_t> h3{ 0 }, consumed{ 0 }, finished{ 0 };
    std::vector<std::thread> producers, consumers;
    for (unsigned p = 0; p < 2; p++)
        producers.emplace_back([p, &q1] {
            for (std::uint64_t i = 0; i < kPerProducer; i++)
                q1.push(make_msg(p * kPerProducer + i));
        });
    for (unsigned c = 0; c < 2; c++)
        consumers.emplace_back([&] {
            std::unique_ptr<Msg> m;
            while (q1.pop(m)) {
                h3 += msg_hash(*m);
                consumed++;
                if (m->id % 2 == 0) {
                    m->body += "+fwd";
                    q2.push(std::move(m));  // freed by the finisher
                } else {
                    m.reset();  // freed here, allocated by a producer
                }
            }
        });
    std::thread finisher([&] {
        std::unique_ptr<Msg> m;
        while (q2.pop(m)) {
            h3 += hash_str(m->body);
            finished++;
            m.reset();
        }
    });
    for (auto& t : producers)
        t.join();
    q1.close();
    for (auto& t : consumers)
        t.join();
    q2.close();
    finisher.join();
    if (consumed != 2 * kPerProducer)
        fail("not every message was consumed");
    if (finished != kPerProducer)
        fail("not every forwarded message was finished");

    std::printf("phase1 map/string churn    %016llx\n", static_cast<unsigned long long>(phase1));
    std::printf("phase2 shared_ptr release  %016llx (%llu items)\n",
                static_cast<unsigned long long>(phase2),
                static_cast<unsigned long long>(destroyed.load()));
    std::printf("phase3 queue pipeline      %016llx (%llu messages, %llu forwarded)\n",
                static_cast<unsigned long long>(h3.load()),
                static_cast<unsigned long long>(consumed.load()),
                static_cast<unsigned long long>(finished.load()));
    return 0;
}
