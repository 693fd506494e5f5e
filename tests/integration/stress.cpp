// Multi-thread allocator stress.
//
//   stress [--threads N] [--ops N] [--seed N] [--expect-lib PATH]
//
// Each thread performs a random mix of malloc / calloc / realloc chains /
// aligned allocations / operator new and delete, with sizes from 1 B to
// 1 MiB biased towards small ones.  Every block is filled with a pattern
// derived from its address and size, verified before it is freed, after
// every realloc (the preserved prefix) and when another thread receives it.
// A share of the blocks is handed to other threads through queues and freed
// there.  The program exits 1 on the first mismatch.
//
// With --expect-lib, it first checks that malloc and operator new resolve
// into that library (i.e. that the preload is in effect).
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "test_rng.hpp"

namespace {

std::uint64_t seed_for(const void* p, std::size_t n)
{
    return mix(reinterpret_cast<std::uintptr_t>(p) ^ (static_cast<std::uint64_t>(n) << 40) ^ n);
}

// cheap enough for megabyte blocks, and differs for every word and seed
inline std::uint64_t word(std::uint64_t seed, std::size_t i)
{
    std::uint64_t x = (seed + i) * 0x9e3779b97f4a7c15ULL;
    return x ^ (x >> 29);
}

void fill(void* p, std::size_t n, std::uint64_t seed)
{
    auto* b = static_cast<unsigned char*>(p);
    std::size_t w = n / 8;
    for (std::size_t i = 0; i < w; i++) {
        std::uint64_t v = word(seed, i);
        std::memcpy(b + i * 8, &v, 8);
    }
    if (n % 8) {
        std::uint64_t v = word(seed, w);
        std::memcpy(b + w * 8, &v, n % 8);
    }
}

// index of the first bad byte in [0, n), or SIZE_MAX
std::size_t verify(const void* p, std::size_t n, std::uint64_t seed)
{
    auto* b = static_cast<const unsigned char*>(p);
    std::size_t w = n / 8;
    for (std::size_t i = 0; i < w; i++) {
        std::uint64_t v = word(seed, i), got;
        std::memcpy(&got, b + i * 8, 8);
        if (got != v)
            for (std::size_t k = 0; k < 8; k++)
                if (b[i * 8 + k] != reinterpret_cast<unsigned char*>(&v)[k])
                    return i * 8 + k;
    }
    if (n % 8) {
        std::uint64_t v = word(seed, w);
        for (std::size_t k = 0; k < n % 8; k++)
            if (b[w * 8 + k] != reinterpret_cast<unsigned char*>(&v)[k])
                return w * 8 + k;
    }
    return SIZE_MAX;
}

enum class Kind : unsigned char { Malloc, Aligned, New, NewArray, NewAligned };

struct Block {
    void* p = nullptr;
    std::size_t n = 0;
    std::size_t align = 0;
    Kind kind = Kind::Malloc;
};

std::atomic<bool> g_failed{ false };

[[noreturn]] void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char* fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (static_cast<std::size_t>(n) >= sizeof buf - 1)
        n = static_cast<int>(sizeof buf) - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, "stress: FAIL: ", 14);
    w = write(2, buf, static_cast<std::size_t>(n));
    (void)w;
    _exit(1);
}

void check_block(const Block& b, const char* when)
{
    std::size_t bad = verify(b.p, b.n, seed_for(b.p, b.n));
    if (bad != SIZE_MAX)
        die("block %p of %zu bytes corrupted at byte %zu (%s)", b.p, b.n, bad, when);
}

void release(Block& b)
{
    check_block(b, "before free");
    switch (b.kind) {
    case Kind::Malloc:
    case Kind::Aligned: std::free(b.p); break;
    case Kind::New: ::operator delete(b.p, b.n); break;
    case Kind::NewArray: ::operator delete[](b.p); break;
    case Kind::NewAligned: ::operator delete(b.p, std::align_val_t{ b.align }); break;
    }
    b.p = nullptr;
}

struct Inbox {
    std::mutex mu;
    std::vector<Block> items;
};

std::size_t pick_size(Rng& r)
{
    std::uint64_t x = r.next();
    unsigned bucket = static_cast<unsigned>(x % 1000);
    x >>= 10;
    if (bucket < 600)
        return 1 + x % 128;
    if (bucket < 880)
        return 129 + x % 896;
    if (bucket < 980)
        return 1025 + x % (16384 - 1024);
    if (bucket < 997)
        return 16385 + x % (262144 - 16384);
    return 262145 + x % (1048576 - 262144);
}

struct Stats {
    std::uint64_t allocs = 0, frees = 0, reallocs = 0, sent = 0, received = 0;
};

void worker(unsigned tid, unsigned nthreads, std::uint64_t ops, std::uint64_t seed,
            std::vector<Inbox>& inboxes, std::atomic<unsigned>& done, Stats& st)
{
    Rng r{ seed * 1000003 + tid };
    constexpr std::size_t kSlots = 1024;
    std::vector<Block> slots(kSlots);
    std::vector<Block> incoming;
    for (std::uint64_t op = 0; op < ops; op++) {
        if (op % 64 == 0) {
            {
                std::lock_guard<std::mutex> g(inboxes[tid].mu);
                incoming.swap(inboxes[tid].items);
            }
            for (Block& b : incoming) {
                check_block(b, "on receipt from another thread");
                st.received++;
                std::size_t s = r.next() % kSlots;
                if (slots[s].p) {
                    release(slots[s]);
                    st.frees++;
                }
                slots[s] = b;  // adopt; freed later by this thread
            }
            incoming.clear();
        }
        std::uint64_t x = r.next();
        Block& b = slots[x % kSlots];
        unsigned action = static_cast<unsigned>((x >> 16) % 100);
        if (!b.p) {
            std::size_t n = pick_size(r);
            b.n = n;
            b.align = 0;
            if (action < 55) {
                b.kind = Kind::Malloc;
                b.p = std::malloc(n);
            } else if (action < 65) {
                b.kind = Kind::Malloc;
                b.p = std::calloc(1, n);
                if (b.p)
                    for (std::size_t i = 0; i < n; i++)
                        if (static_cast<unsigned char*>(b.p)[i])
                            die("calloc(1, %zu) = %p not zeroed at byte %zu", n, b.p, i);
            } else if (action < 72) {
                b.kind = Kind::Aligned;
                b.align = std::size_t(16) << ((x >> 24) % 9);  // 16 .. 4096
                void* p = nullptr;
                if (posix_memalign(&p, b.align, n) != 0)
                    p = nullptr;
                b.p = p;
            } else if (action < 85) {
                b.kind = Kind::New;
                b.p = ::operator new(n);
            } else if (action < 92) {
                b.kind = Kind::NewArray;
                b.p = ::operator new[](n);
            } else {
                b.kind = Kind::NewAligned;
                b.align = std::size_t(32) << ((x >> 24) % 8);  // 32 .. 4096
                b.p = ::operator new(n, std::align_val_t{ b.align });
            }
            if (!b.p)
                die("allocation of %zu bytes failed", n);
            if (b.align && (reinterpret_cast<std::uintptr_t>(b.p) & (b.align - 1)))
                die("allocation of %zu bytes at %p is not %zu-aligned", n, b.p, b.align);
            fill(b.p, n, seed_for(b.p, n));
            st.allocs++;
        } else if (action < 45) {
            release(b);
            st.frees++;
        } else if (action < 75 && b.kind == Kind::Malloc) {
            // realloc chain: a few steps, verifying the preserved prefix
            int steps = 1 + static_cast<int>((x >> 24) % 4);
            for (int s = 0; s < steps; s++) {
                check_block(b, "before realloc");
                std::size_t old_n = b.n;
                std::uint64_t old_seed = seed_for(b.p, old_n);
                std::size_t n = (r.next() % 3 == 0) ? pick_size(r) : old_n + 1 + r.next() % 256;
                void* q = std::realloc(b.p, n);
                if (!q)
                    die("realloc(%zu -> %zu) failed", old_n, n);
                std::size_t keep = n < old_n ? n : old_n;
                std::size_t bad = verify(q, keep, old_seed);
                if (bad != SIZE_MAX)
                    die("realloc(%zu -> %zu) lost byte %zu of the contents", old_n, n, bad);
                b.p = q;
                b.n = n;
                fill(q, n, seed_for(q, n));
                st.reallocs++;
            }
        } else if (action < 95) {
            // hand the block to another thread, which frees or keeps it
            unsigned to = static_cast<unsigned>((x >> 32) % nthreads);
            if (to == tid)
                to = (to + 1) % nthreads;
            {
                std::lock_guard<std::mutex> g(inboxes[to].mu);
                inboxes[to].items.push_back(b);
            }
            b.p = nullptr;
            st.sent++;
        } else {
            check_block(b, "spot check");
            if (b.kind == Kind::Malloc || b.kind == Kind::Aligned)
                if (malloc_usable_size(b.p) < b.n)
                    die("malloc_usable_size(%p) = %zu < %zu", b.p, malloc_usable_size(b.p), b.n);
        }
    }
    done++;
    // keep receiving until every thread has stopped sending
    for (;;) {
        bool all_done = done.load() == nthreads;
        {
            std::lock_guard<std::mutex> g(inboxes[tid].mu);
            incoming.swap(inboxes[tid].items);
        }
        for (Block& b : incoming) {
            st.received++;
            release(b);
            st.frees++;
        }
        incoming.clear();
        if (all_done) {
            std::lock_guard<std::mutex> g(inboxes[tid].mu);
            if (inboxes[tid].items.empty())
                break;
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
    for (Block& b : slots)
        if (b.p) {
            release(b);
            st.frees++;
        }
}

void expect_lib(const char* lib)
{
    char* want = realpath(lib, nullptr);
    if (!want)
        die("--expect-lib %s: no such file", lib);
    for (const char* sym : { "malloc", "free", "_Znwm", "_ZdlPv" }) {
        void* p = dlsym(RTLD_DEFAULT, sym);
        Dl_info info{};
        if (!p || !dladdr(p, &info) || !info.dli_fname)
            die("cannot locate symbol %s", sym);
        char* got = realpath(info.dli_fname, nullptr);
        if (!got || std::strcmp(got, want) != 0)
            die("%s resolves into %s, not %s: the allocator under test is not preloaded", sym,
                got ? got : info.dli_fname, want);
        std::free(got);
    }
    std::free(want);
}

}  // namespace

int main(int argc, char** argv)
{
    unsigned nthreads = 8;
    std::uint64_t ops = 1000000;
    std::uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc)
            nthreads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        else if (a == "--ops" && i + 1 < argc)
            ops = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--seed" && i + 1 < argc)
            seed = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--expect-lib" && i + 1 < argc)
            expect_lib(argv[++i]);
        else {
            std::fprintf(stderr, "usage: %s [--threads N] [--ops N] [--seed N] [--expect-lib PATH]\n",
                         argv[0]);
            return 2;
        }
    }
    if (nthreads < 2)
        nthreads = 2;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<Inbox> inboxes(nthreads);
    std::vector<Stats> stats(nthreads);
    std::atomic<unsigned> done{ 0 };
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < nthreads; t++)
        ts.emplace_back(worker, t, nthreads, ops, seed, std::ref(inboxes), std::ref(done),
                        std::ref(stats[t]));
    for (auto& t : ts)
        t.join();
    Stats tot;
    for (auto& s : stats) {
        tot.allocs += s.allocs;
        tot.frees += s.frees;
        tot.reallocs += s.reallocs;
        tot.sent += s.sent;
        tot.received += s.received;
    }
    if (tot.sent != tot.received)
        die("%llu blocks sent to other threads but %llu received",
            static_cast<unsigned long long>(tot.sent), static_cast<unsigned long long>(tot.received));
    if (tot.allocs != tot.frees)
        die("%llu blocks allocated but %llu freed", static_cast<unsigned long long>(tot.allocs),
            static_cast<unsigned long long>(tot.frees));
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("stress: %u threads, %llu allocations, %llu reallocs, %llu cross-thread "
                "hand-offs, all verified (%.1f s)\n",
                nthreads, static_cast<unsigned long long>(tot.allocs),
                static_cast<unsigned long long>(tot.reallocs),
                static_cast<unsigned long long>(tot.sent), secs);
    return 0;
}
