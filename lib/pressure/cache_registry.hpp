// Caches the program registers for the optimizer to shrink under pressure (memf_cache_register,
// EvictableCache), and the call that asks them for bytes, lowest priority first.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

// Registered caches. evict(bytes_wanted, ctx) frees about that much and returns the bytes freed.
// It may be called on any thread, including from inside an allocation made while the cache's own
// lock is held by that thread: take the lock with a try-lock and return 0 when it is busy.
// Lower priority is evicted first. Returns an id > 0, or -1 (table of 64 full, evict null).
int cache_register(const char* name, size_t (*evict)(size_t bytes_wanted, void* ctx), void* ctx, int priority);
// After it returns, evict is not running and will not be called again (unless called from evict
// itself). False for an unknown id.
bool cache_unregister(int id);
size_t registered_cache_count();

// Asks the caches, lowest priority first (among equals, the earlier registration), until wanted
// bytes are freed; the bytes they reported. *called counts the caches asked.
uint64_t evict_caches(uint64_t wanted, unsigned* called);

// fork(): the registry's lock, taken by the optimizer's handlers after its run lock.
void cache_registry_lock();
void cache_registry_unlock();
void cache_registry_reset_after_fork();

}  // namespace memf
