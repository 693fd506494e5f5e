// The deterministic generator the integration programs share (splitmix64).
#pragma once
#include <cstddef>
#include <cstdint>

namespace {

std::uint64_t mix(std::uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct Rng {
    std::uint64_t s;
    std::uint64_t next() { return mix(s += 0x9e3779b97f4a7c15ULL); }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

}  // namespace
