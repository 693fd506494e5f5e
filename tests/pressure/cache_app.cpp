// A program whose cache would grow far past its memory cgroup's limit. Under memf (preloaded,
// no MEMF_LIMIT) the cache is registered with memf, which finds the cgroup's limit and evicts
// from it under pressure; run plainly, nothing evicts and the kernel kills it.
//
//   cache_app MIB ENTRY_BYTES   inserts MIB mebibytes of entries, then prints what happened
#include <memf/pressure.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

// Resolved at run time: present only when libmemf.so is loaded.
#pragma weak memf_cache_register
#pragma weak memf_cache_unregister
#pragma weak memf_pressure_info_get

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? strtoul(argv[1], nullptr, 10) : 400;
  const size_t entry = argc > 2 ? strtoul(argv[2], nullptr, 10) : 4096;
  const size_t count = (mib << 20) / entry;
  const bool with_memf = &memf_cache_register != nullptr;
  printf("cache_app: %zu entries of %zu bytes, memf %s\n", count, entry, with_memf ? "loaded" : "absent");
  fflush(stdout);

  if (!with_memf) {
    std::unordered_map<size_t, std::vector<char>> plain;
    for (size_t i = 0; i < count; ++i) plain.emplace(i, std::vector<char>(entry, char(i)));
    printf("cache_app: survived without memf, %zu entries\n", plain.size());
    return 0;
  }
  memf::EvictableCache<size_t, std::vector<char>> cache("cache_app", memf::EvictionPolicy::LRU);
  for (size_t i = 0; i < count; ++i) {
    cache.put(i, std::vector<char>(entry, char(i)));
    if (i % 64 == 0) cache.get(i / 2);  // some reuse, as a real cache sees
  }
  // The most recent entries are intact.
  auto last = cache.get(count - 1);
  if (!last || (*last)[entry - 1] != char(count - 1)) {
    printf("cache_app: the newest entry is wrong\n");
    return 2;
  }
  const auto stats = cache.stats();
  memf_pressure_info info{};
  memf_pressure_info_get(&info);
  printf("cache_app: survived, entries=%zu bytes=%zu evicted_bytes=%llu pressure_evicted_bytes=%llu\n", cache.size(),
         cache.bytes(), (unsigned long long)stats.evictedBytes, (unsigned long long)stats.pressureEvictedBytes);
  printf("cache_app: memf cgroup_version=%d cgroup_limit=%llu own_limit=%llu level=%d optimizer_runs=%llu\n",
         info.cgroup_version, (unsigned long long)info.cgroup_limit, (unsigned long long)info.own_limit, info.level,
         (unsigned long long)info.optimizer_runs);
  return 0;
}
