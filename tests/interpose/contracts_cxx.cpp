// C++ parts of the interposition contract tests: every operator new/delete
// form, std::bad_alloc on huge requests, and the new_handler protocol.
#include "contracts.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr std::size_t MiB = std::size_t(1) << 20;

bool aligned(const void* p, std::size_t a)
{
    return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

const std::size_t k_sizes[] = { 0, 1, 8, 24, 100, 1000, 4096, 10000, 100000, 4 * MiB + 3 };
const std::size_t k_aligns[] = { 16, 32, 64, 128, 256, 512, 4096, 8192, 65536, MiB, 2 * MiB };

enum class Form {
    Plain, PlainSized, Array, ArraySized, Nothrow, ArrayNothrow,
    Aligned, AlignedSized, ArrayAligned, ArrayAlignedSized, AlignedNothrow, ArrayAlignedNothrow,
};

const char* form_name(Form f)
{
    switch (f) {
    case Form::Plain: return "new/delete";
    case Form::PlainSized: return "new/sized delete";
    case Form::Array: return "new[]/delete[]";
    case Form::ArraySized: return "new[]/sized delete[]";
    case Form::Nothrow: return "new(nothrow)/delete(nothrow)";
    case Form::ArrayNothrow: return "new[](nothrow)/delete[](nothrow)";
    case Form::Aligned: return "new(align)/delete(align)";
    case Form::AlignedSized: return "new(align)/delete(size, align)";
    case Form::ArrayAligned: return "new[](align)/delete[](align)";
    case Form::ArrayAlignedSized: return "new[](align)/delete[](size, align)";
    case Form::AlignedNothrow: return "new(align, nothrow)/delete(align, nothrow)";
    case Form::ArrayAlignedNothrow: return "new[](align, nothrow)/delete[](align, nothrow)";
    }
    return "?";
}

bool is_aligned_form(Form f)
{
    return f >= Form::Aligned;
}

void* alloc_form(Form f, std::size_t n, std::size_t al)
{
    const std::align_val_t a{ al };
    switch (f) {
    case Form::Plain:
    case Form::PlainSized: return ::operator new(n);
    case Form::Array:
    case Form::ArraySized: return ::operator new[](n);
    case Form::Nothrow: return ::operator new(n, std::nothrow);
    case Form::ArrayNothrow: return ::operator new[](n, std::nothrow);
    case Form::Aligned:
    case Form::AlignedSized: return ::operator new(n, a);
    case Form::ArrayAligned:
    case Form::ArrayAlignedSized: return ::operator new[](n, a);
    case Form::AlignedNothrow: return ::operator new(n, a, std::nothrow);
    case Form::ArrayAlignedNothrow: return ::operator new[](n, a, std::nothrow);
    }
    return nullptr;
}

void free_form(Form f, void* p, std::size_t n, std::size_t al)
{
    const std::align_val_t a{ al };
    switch (f) {
    case Form::Plain: ::operator delete(p); break;
    case Form::PlainSized: ::operator delete(p, n); break;
    case Form::Array: ::operator delete[](p); break;
    case Form::ArraySized: ::operator delete[](p, n); break;
    case Form::Nothrow: ::operator delete(p, std::nothrow); break;
    case Form::ArrayNothrow: ::operator delete[](p, std::nothrow); break;
    case Form::Aligned: ::operator delete(p, a); break;
    case Form::AlignedSized: ::operator delete(p, n, a); break;
    case Form::ArrayAligned: ::operator delete[](p, a); break;
    case Form::ArrayAlignedSized: ::operator delete[](p, n, a); break;
    case Form::AlignedNothrow: ::operator delete(p, a, std::nothrow); break;
    case Form::ArrayAlignedNothrow: ::operator delete[](p, a, std::nothrow); break;
    }
}

struct alignas(128) Over {
    unsigned char bytes[200];
    Over() { std::memset(bytes, 0x5c, sizeof bytes); }
};

struct Node {
    std::string name;
    std::shared_ptr<Node> next;
    std::vector<int> data;
};

}  // namespace

extern "C" int case_cxx_forms(void)
{
    std::set_new_handler(nullptr);
    const Form forms[] = {
        Form::Plain, Form::PlainSized, Form::Array, Form::ArraySized, Form::Nothrow,
        Form::ArrayNothrow, Form::Aligned, Form::AlignedSized, Form::ArrayAligned,
        Form::ArrayAlignedSized, Form::AlignedNothrow, Form::ArrayAlignedNothrow,
    };
    constexpr std::size_t NS = sizeof k_sizes / sizeof k_sizes[0];
    for (Form f : forms) {
        const std::size_t* aligns = k_aligns;
        std::size_t na = is_aligned_form(f) ? sizeof k_aligns / sizeof k_aligns[0] : 1;
        for (std::size_t ai = 0; ai < na; ai++) {
            std::size_t al = is_aligned_form(f) ? aligns[ai] : 16;
            void* blocks[NS];
            for (std::size_t i = 0; i < NS; i++) {
                std::size_t n = k_sizes[i];
                blocks[i] = alloc_form(f, n, al);
                CHECK(blocks[i] != nullptr, "%s(%zu, align %zu) returned nullptr", form_name(f),
                      n, al);
                if (n >= 16 || is_aligned_form(f))
                    CHECK(aligned(blocks[i], al), "%s(%zu, align %zu) = %p is misaligned",
                          form_name(f), n, al, blocks[i]);
                pattern_fill(blocks[i], n, static_cast<std::uint64_t>(i * 7919 + al));
            }
            for (std::size_t i = 0; i < NS; i++) {
                std::size_t bad = pattern_check(blocks[i], k_sizes[i],
                                                static_cast<std::uint64_t>(i * 7919 + al));
                CHECK(bad == static_cast<std::size_t>(-1),
                      "%s(%zu, align %zu) block corrupted at byte %zu", form_name(f), k_sizes[i],
                      al, bad);
            }
            for (std::size_t i = NS; i-- > 0;)
                free_form(f, blocks[i], k_sizes[i], al);
        }
    }

    // new-expressions, including over-aligned types
    for (int round = 0; round < 200; round++) {
        Over* o = new Over;
        CHECK(aligned(o, alignof(Over)), "new Over = %p not %zu-aligned", static_cast<void*>(o),
              alignof(Over));
        Over* arr = new Over[7];
        CHECK(aligned(arr, alignof(Over)), "new Over[7] misaligned");
        for (int i = 0; i < 7; i++)
            CHECK(arr[i].bytes[199] == 0x5c, "Over[%d] not constructed", i);
        std::vector<Over> vec(static_cast<std::size_t>(round % 17 + 1));
        CHECK(aligned(vec.data(), alignof(Over)), "vector<Over> storage misaligned");
        auto sp = std::make_shared<Over>();
        CHECK(aligned(sp.get(), alignof(Over)), "make_shared<Over> misaligned");
        int* ints = new int[static_cast<std::size_t>(round) + 1];
        ints[round] = round;
        delete[] ints;
        delete[] arr;
        delete o;
    }
    // a linked structure of std containers, built and torn down
    std::shared_ptr<Node> head;
    for (int i = 0; i < 20000; i++) {
        auto n = std::make_shared<Node>();
        n->name = "node-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 300), 'x');
        n->data.assign(static_cast<std::size_t>(i % 64), i);
        n->next = head;
        head = n;
    }
    long sum = 0;
    for (Node* n = head.get(); n; n = n->next.get())
        sum += static_cast<long>(n->data.size()) + static_cast<long>(n->name.size());
    long expect = 0;
    for (int i = 0; i < 20000; i++)
        expect += (i % 64) + static_cast<long>(("node-" + std::to_string(i)).size()) + (i % 300);
    CHECK(sum == expect, "linked structure contents wrong: %ld != %ld", sum, expect);
    // tear down iteratively to keep the stack shallow
    while (head)
        head = std::move(head->next);
    return 0;
}

namespace {

const std::size_t k_huge[] = {
    SIZE_MAX, SIZE_MAX / 2, static_cast<std::size_t>(PTRDIFF_MAX) + 1, std::size_t(1) << 48,
};

template <class F>
bool throws_bad_alloc(F fn)
{
    try {
        void* p = fn();
        (void)p;
        return false;
    } catch (const std::bad_alloc&) {
        return true;
    }
}

}  // namespace

extern "C" int case_cxx_huge(void)
{
    std::set_new_handler(nullptr);
    for (std::size_t n : k_huge) {
        CHECK(throws_bad_alloc([&] { return ::operator new(n); }),
              "operator new(%#zx) did not throw std::bad_alloc", n);
        CHECK(throws_bad_alloc([&] { return ::operator new[](n); }),
              "operator new[](%#zx) did not throw std::bad_alloc", n);
        for (std::size_t al : { std::size_t(64), std::size_t(4096), 2 * MiB }) {
            const std::align_val_t a{ al };
            CHECK(throws_bad_alloc([&] { return ::operator new(n, a); }),
                  "operator new(%#zx, align %zu) did not throw std::bad_alloc", n, al);
            CHECK(throws_bad_alloc([&] { return ::operator new[](n, a); }),
                  "operator new[](%#zx, align %zu) did not throw std::bad_alloc", n, al);
            void* p = ::operator new(n, a, std::nothrow);
            CHECK(p == nullptr, "operator new(%#zx, align %zu, nothrow) returned %p", n, al, p);
            p = ::operator new[](n, a, std::nothrow);
            CHECK(p == nullptr, "operator new[](%#zx, align %zu, nothrow) returned %p", n, al, p);
        }
        void* p = ::operator new(n, std::nothrow);
        CHECK(p == nullptr, "operator new(%#zx, nothrow) returned %p", n, p);
        p = ::operator new[](n, std::nothrow);
        CHECK(p == nullptr, "operator new[](%#zx, nothrow) returned %p", n, p);
        // a new-expression with a run-time element count
        volatile std::size_t count = n / 2;
        CHECK(throws_bad_alloc([&] { return static_cast<void*>(new char[count]); }),
              "new char[%#zx] did not throw", static_cast<std::size_t>(count));
    }
    // allocation still works afterwards
    for (int i = 0; i < 1000; i++) {
        auto* s = new std::string(static_cast<std::size_t>(i), 'q');
        CHECK(s->size() == static_cast<std::size_t>(i), "string broken");
        delete s;
    }
    return 0;
}

namespace {

int g_calls;
void* g_reserve;
std::size_t g_reserve_len;

void handler_uninstall_after_3()
{
    if (++g_calls >= 3)
        std::set_new_handler(nullptr);
}

void handler_throws()
{
    ++g_calls;
    throw std::bad_alloc();
}

void handler_release_reserve()
{
    ++g_calls;
    if (g_reserve) {
        munmap(g_reserve, g_reserve_len);
        g_reserve = nullptr;
    } else {
        std::set_new_handler(nullptr);
    }
}

std::size_t vm_size()
{
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    CHECK(f != nullptr, "cannot open /proc/self/statm");
    unsigned long pages = 0;
    int n = std::fscanf(f, "%lu", &pages);
    std::fclose(f);
    CHECK(n == 1, "cannot parse /proc/self/statm");
    return static_cast<std::size_t>(pages) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Runs `alloc` (which must request `want` bytes) while the address space is
// limited so that the first attempt fails; the installed handler releases a
// reserve mapping, after which the retry must succeed.
template <class Alloc, class Free>
void reserve_scenario(const char* what, std::size_t want, Alloc alloc, Free release)
{
    rlimit old{};
    CHECK(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit failed");
    g_reserve_len = std::size_t(2) << 30;
    g_reserve = mmap(nullptr, g_reserve_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    CHECK(g_reserve != MAP_FAILED, "reserve mmap failed");
    rlimit lim = old;
    lim.rlim_cur = vm_size() + 128 * MiB;
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit(RLIMIT_AS) failed");
    void* probe = mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) {
        munmap(probe, want);
        setrlimit(RLIMIT_AS, &old);
        CHECK(false, "RLIMIT_AS is not enforced here; cannot make %s fail", what);
    }
    g_calls = 0;
    std::set_new_handler(handler_release_reserve);
    void* p = nullptr;
    try {
        p = alloc();
    } catch (const std::bad_alloc&) {
        setrlimit(RLIMIT_AS, &old);
        CHECK(false, "%s threw bad_alloc although the handler released memory (%d calls)", what,
              g_calls);
    }
    int calls = g_calls;
    bool reserve_released = g_reserve == nullptr;
    CHECK(p != nullptr, "%s returned nullptr although the handler released memory", what);
    // touch the block while the limit is still in force
    static_cast<volatile unsigned char*>(p)[0] = 1;
    static_cast<volatile unsigned char*>(p)[want - 1] = 2;
    release(p);
    CHECK(setrlimit(RLIMIT_AS, &old) == 0, "restoring RLIMIT_AS failed");
    std::set_new_handler(nullptr);
    if (g_reserve) {
        munmap(g_reserve, g_reserve_len);
        g_reserve = nullptr;
    }
    CHECK(reserve_released && calls == 1,
          "%s: the new_handler was called %d times (expected once, then the retry succeeds)",
          what, calls);
}

}  // namespace

extern "C" int case_cxx_new_handler(void)
{
    const std::size_t huge = SIZE_MAX / 2;
    const std::align_val_t a64{ 64 };
    struct Thrower {
        const char* name;
        void* (*fn)(std::size_t);
    };
    const Thrower throwing[] = {
        { "operator new", [](std::size_t n) { return ::operator new(n); } },
        { "operator new[]", [](std::size_t n) { return ::operator new[](n); } },
        { "operator new(align 64)", [](std::size_t n) { return ::operator new(n, std::align_val_t{ 64 }); } },
        { "operator new[](align 64)", [](std::size_t n) { return ::operator new[](n, std::align_val_t{ 64 }); } },
    };
    const Thrower nothrowing[] = {
        { "operator new(nothrow)", [](std::size_t n) { return ::operator new(n, std::nothrow); } },
        { "operator new[](nothrow)", [](std::size_t n) { return ::operator new[](n, std::nothrow); } },
        { "operator new(align 64, nothrow)",
          [](std::size_t n) { return ::operator new(n, std::align_val_t{ 64 }, std::nothrow); } },
        { "operator new[](align 64, nothrow)",
          [](std::size_t n) { return ::operator new[](n, std::align_val_t{ 64 }, std::nothrow); } },
    };
    (void)a64;

    // 1. a handler that uninstalls itself after three calls
    for (const Thrower& t : throwing) {
        g_calls = 0;
        std::set_new_handler(handler_uninstall_after_3);
        bool threw = throws_bad_alloc([&] { return t.fn(huge); });
        CHECK(threw, "%s(%#zx) did not throw after the handler uninstalled itself", t.name, huge);
        CHECK(g_calls == 3, "%s: new_handler called %d times, expected 3", t.name, g_calls);
        CHECK(std::get_new_handler() == nullptr, "handler still installed");
    }
    for (const Thrower& t : nothrowing) {
        g_calls = 0;
        std::set_new_handler(handler_uninstall_after_3);
        void* p = nullptr;
        try {
            p = t.fn(huge);
        } catch (...) {
            CHECK(false, "%s threw", t.name);
        }
        CHECK(p == nullptr, "%s(%#zx) returned %p", t.name, huge, p);
        CHECK(g_calls == 3, "%s: new_handler called %d times, expected 3", t.name, g_calls);
    }

    // 2. a handler that throws: its exception propagates, called once
    for (const Thrower& t : throwing) {
        g_calls = 0;
        std::set_new_handler(handler_throws);
        bool threw = throws_bad_alloc([&] { return t.fn(huge); });
        CHECK(threw, "%s: the handler's bad_alloc did not propagate", t.name);
        CHECK(g_calls == 1, "%s: throwing handler called %d times", t.name, g_calls);
        CHECK(std::get_new_handler() == handler_throws, "handler was replaced");
    }
    for (const Thrower& t : nothrowing) {
        g_calls = 0;
        std::set_new_handler(handler_throws);
        void* p = t.fn(huge);
        CHECK(p == nullptr && g_calls == 1, "%s with a throwing handler: p=%p calls=%d", t.name,
              p, g_calls);
    }
    std::set_new_handler(nullptr);

    // 3. a handler that frees a reserve so that the retry succeeds
    reserve_scenario("operator new(512 MiB)", 512 * MiB,
                     [] { return ::operator new(512 * MiB); },
                     [](void* p) { ::operator delete(p); });
    reserve_scenario("operator new[](768 MiB, nothrow)", 768 * MiB,
                     [] { return ::operator new[](768 * MiB, std::nothrow); },
                     [](void* p) { ::operator delete[](p); });
    reserve_scenario("operator new(900 MiB, align 4096)", 900 * MiB,
                     [] { return ::operator new(900 * MiB, std::align_val_t{ 4096 }); },
                     [](void* p) { ::operator delete(p, std::align_val_t{ 4096 }); });
    return 0;
}
