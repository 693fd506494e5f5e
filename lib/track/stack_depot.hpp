// Deduplicating store of call stacks: each distinct stack is kept once and named by a 32-bit id,
// so that an allocation record carries 4 bytes instead of its frames. Runs inside malloc: never
// allocates, lookups of stored stacks are lock-free, inserting a new stack takes one short spin
// lock. Stored stacks are never removed or moved: a frames pointer from get() stays valid for
// the life of the process.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "compiler.hpp"
#include "spin_lock.hpp"

namespace memf {

using StackId = uint32_t;  // 0 = no stack

// The depot's hash of a stack, built one frame at a time (innermost first) so that a capture can
// hash the frames while it walks them: one multiply-xorshift step per frame (code addresses carry
// their entropy in the low and middle bits), then the depth and a final mix that spreads it to
// the low bits a bucket mask keeps.
class StackHash {
 public:
  MEMF_ALWAYS_INLINE void add(uintptr_t frame) {
    h_ = (h_ ^ frame) * 0xff51afd7ed558ccdull;
    h_ ^= h_ >> 32;
  }
  MEMF_ALWAYS_INLINE uint64_t finish(unsigned depth) const {
    uint64_t h = h_ ^ depth;
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 32);
  }

 private:
  uint64_t h_ = 0x9e3779b97f4a7c15ull;
};
constexpr size_t kDefaultStackDepotBytes = size_t(64) << 20;

struct StackDepotStats {
  uint64_t stacks;          // distinct stacks stored
  uint64_t bytes;           // bytes of stored stack records
  uint64_t mapped_bytes;    // memory mapped for the depot (record chunks, bucket and chunk tables)
  uint64_t capacity_bytes;  // the bound on `bytes`
  uint64_t dropped;         // puts of a new stack refused because the depot was full
};

class StackDepot {
 public:
  constexpr StackDepot() = default;
  StackDepot(const StackDepot&) = delete;
  StackDepot& operator=(const StackDepot&) = delete;

  // Sets the bound on stored bytes (clamped to 64 KiB .. 16 GiB) and maps the tables. Only the
  // first call (or put()'s implicit one, with kDefaultStackDepotBytes) sets the bound; later ones
  // leave it. True when the depot is ready, false if its tables could not be mapped.
  bool init(size_t max_bytes);
  // Interns frames[0..depth) (depth is capped at kMaxStackDepth) and returns its id: the same id
  // for the same frames, from any thread. 0 for depth 0, and when a new stack does not fit any
  // more (then `dropped` counts it; stacks already stored are still found).
  StackId put(const uintptr_t* frames, unsigned depth);
  // put() for a caller that already has hash_of(frames, depth), with depth at most kMaxStackDepth.
  StackId put_hashed(uint64_t hash, const uintptr_t* frames, unsigned depth);
  static uint64_t hash_of(const uintptr_t* frames, unsigned depth);
  // The frames of a stack put() returned; 0 (and *frames = nullptr) for 0 or an id never issued.
  unsigned get(StackId id, const uintptr_t** frames) const;
  StackDepotStats stats() const;
  // One word the depot keeps for the user of stack id (the heap profile numbers its sites with
  // it): 0 until set; nullptr for 0 or an id never issued.
  std::atomic<uint32_t>* cookie(StackId id);

  // fork(): the prepare handler locks, the parent unlocks, the child resets.
  void lock_all() { lock_.lock(); }
  void unlock_all() { lock_.unlock(); }
  void reset_after_fork() { lock_.reset_after_fork(); }

  // Unmaps everything; the depot may be initialised again. Only for depots nobody else uses
  // (tests): ids and frame pointers handed out before become invalid.
  void destroy();

 private:
  struct Record;

  bool init_locked(size_t max_bytes);
  const Record* record(StackId id) const;
  const Record* find(uint64_t hash, const uintptr_t* frames, unsigned depth, StackId first, StackId stop,
                     StackId* id) const;
  StackId insert_locked(uint64_t hash, const uintptr_t* frames, unsigned depth, std::atomic<StackId>& bucket);

  SpinLock lock_;  // insertion, chunk mapping, init
  std::atomic<bool> ready_{false};
  std::atomic<bool> full_{false};
  std::atomic<StackId>* buckets_ = nullptr;
  size_t bucket_mask_ = 0;
  std::atomic<char*>* chunks_ = nullptr;
  size_t max_chunks_ = 0;
  size_t capacity_bytes_ = 0;
  std::atomic<uint64_t> mapped_bytes_{0};
  // Next free word: chunk index << kChunkWordsShift | word offset (under lock_; read by get()).
  std::atomic<uint64_t> cursor_{0};
  std::atomic<uint64_t> stacks_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> dropped_{0};
};

namespace detail {
// Each thread's memo of the stacks it put last, direct-mapped by hash: a stack put again (an
// allocation site in a loop) is answered without reading the depot's shared bucket and record
// lines. An entry is trusted on its 64-bit hash, depth and innermost frame all matching. The
// memo is not in static TLS (glibc zeroes that for every new thread): it is mapped on the
// thread's first put and passed on to the next thread at its exit.
constexpr unsigned kMemoShift = 7;
struct PutMemo {
  struct Entry {
    uint64_t hash;
    uintptr_t innermost;
    uint32_t depth;
    StackId id;  // 0: empty
  } entries[1u << kMemoShift];
  PutMemo* next_spare;
};
extern __thread PutMemo* t_memo MEMF_TLS MEMF_HIDDEN;
}  // namespace detail

// The process-wide depot the engine uses.
bool stack_depot_init(size_t max_bytes = kDefaultStackDepotBytes);
StackId stack_depot_put(const uintptr_t* frames, unsigned depth);
// stack_depot_put for frames whose StackHash the caller has (hash.finish(depth)); depth must be at
// most kMaxStackDepth.
StackId stack_depot_put_hashed(uint64_t hash, const uintptr_t* frames, unsigned depth);
// The id the calling thread's memo has for that stack (the first half of stack_depot_put_hashed,
// inline for the allocation path), 0 when it has none.
inline StackId stack_depot_memo_find(uint64_t hash, unsigned depth, uintptr_t innermost) {
  const detail::PutMemo* memo = detail::t_memo;
  if (MEMF_UNLIKELY(!memo)) return 0;
  const detail::PutMemo::Entry& entry = memo->entries[hash >> (64 - detail::kMemoShift)];
  return entry.hash == hash && entry.depth == depth && entry.innermost == innermost ? entry.id : 0;
}
unsigned stack_depot_get(StackId id, const uintptr_t** frames);
std::atomic<uint32_t>* stack_depot_cookie(StackId id);
StackDepotStats stack_depot_stats();
// The threads' memos of recent stacks (stack_depot_put): mapped in all, and kept from exited
// threads for the next ones.
struct StackMemoStats {
  size_t mapped, spare;
};
StackMemoStats stack_depot_memo_stats();
void stack_depot_lock_all();
void stack_depot_unlock_all();
void stack_depot_reset_after_fork();

}  // namespace memf
