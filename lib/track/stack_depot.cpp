#include "stack_depot.hpp"

#include <cstring>

#include "fork.hpp"
#include "os.hpp"
#include "spare_blocks.hpp"
#include "stack_capture.hpp"
#include "thread_exit.hpp"

namespace memf {

// A record is 2 header words then its frames, 8-byte words in 256 KiB chunks mapped on demand;
// records never straddle chunks. Its id is its word position + 1: chunk index << 15 | word
// offset, so get() is two loads and a shift, and 16 GiB of records still fit 32 bits.
struct StackDepot::Record {
  uint64_t hash;
  StackId next;  // the bucket's older record; written once, before the record is published
  uint32_t depth;
  std::atomic<uint32_t> cookie;  // the stack's user's number for it (cookie()); 0 until set
  uint32_t unused;
  const uintptr_t* frames() const { return reinterpret_cast<const uintptr_t*>(this + 1); }
  uintptr_t* frames() { return reinterpret_cast<uintptr_t*>(this + 1); }
};

namespace {

constexpr unsigned kChunkWordsShift = 15;
constexpr uint64_t kChunkWords = uint64_t(1) << kChunkWordsShift;
constexpr size_t kChunkBytes = kChunkWords * sizeof(uint64_t);
constexpr size_t kMinCapacity = size_t(64) << 10;
constexpr size_t kMaxCapacity = size_t(16) << 30;
constexpr size_t kHeaderWords = 3;
static_assert(sizeof(uintptr_t) == sizeof(uint64_t));

inline uint64_t hash_frames(const uintptr_t* frames, unsigned depth) {
  StackHash hash;
  for (unsigned i = 0; i < depth; ++i) hash.add(frames[i]);
  return hash.finish(depth);
}

// Stacks are short: a plain loop beats a call to memcmp (and a hash match is nearly always a
// match).
inline bool same_frames(const uintptr_t* a, const uintptr_t* b, unsigned depth) {
  for (unsigned i = 0; i < depth; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

}  // namespace

bool StackDepot::init(size_t max_bytes) {
  LockGuard guard(lock_);
  return ready_.load(std::memory_order_relaxed) || init_locked(max_bytes);
}

bool StackDepot::init_locked(size_t max_bytes) {
  if (max_bytes < kMinCapacity) max_bytes = kMinCapacity;
  if (max_bytes > kMaxCapacity) max_bytes = kMaxCapacity;
  // About one bucket per 512 bytes of records (a 30-frame stack is 256): short chains at the
  // bound, a small table (512 KiB for 64 MiB) whose untouched pages cost nothing.
  size_t buckets = 1024;
  while (buckets < max_bytes / 512 && buckets < (size_t(1) << 22)) buckets <<= 1;
  // Chunk tails a record did not fit in are not counted in bytes_: one spare chunk covers them.
  const size_t chunks = (max_bytes + kChunkBytes - 1) / kChunkBytes + 1;
  const size_t bucket_bytes = round_up(buckets * sizeof(StackId), kPageSize);
  const size_t chunk_table_bytes = round_up(chunks * sizeof(char*), kPageSize);
  void* bucket_memory = os::map(bucket_bytes);
  void* chunk_memory = bucket_memory ? os::map(chunk_table_bytes) : nullptr;
  if (chunk_memory == nullptr) {
    if (bucket_memory) os::unmap(bucket_memory, bucket_bytes);
    return false;
  }
  // Zeroed mappings are valid empty tables (atomics of integral and pointer type are their value).
  buckets_ = static_cast<std::atomic<StackId>*>(bucket_memory);
  bucket_mask_ = buckets - 1;
  chunks_ = static_cast<std::atomic<char*>*>(chunk_memory);
  max_chunks_ = chunks;
  capacity_bytes_ = max_bytes;
  mapped_bytes_.store(bucket_bytes + chunk_table_bytes, std::memory_order_relaxed);
  cursor_.store(0, std::memory_order_relaxed);
  full_.store(false, std::memory_order_relaxed);
  ready_.store(true, std::memory_order_release);
  return true;
}

const StackDepot::Record* StackDepot::record(StackId id) const {
  const uint64_t position = uint64_t(id) - 1;
  const char* chunk = chunks_[position >> kChunkWordsShift].load(std::memory_order_acquire);
  return reinterpret_cast<const Record*>(chunk + (position & (kChunkWords - 1)) * sizeof(uint64_t));
}

// Walks a bucket's chain from `first` until `stop` (exclusive). Records are immutable once
// published (release store of the bucket head, acquire here), so this needs no lock.
const StackDepot::Record* StackDepot::find(uint64_t hash, const uintptr_t* frames, unsigned depth, StackId first,
                                           StackId stop, StackId* id) const {
  for (StackId at = first; at != stop && at != 0;) {
    const Record* r = record(at);
    if (r->hash == hash && r->depth == depth && same_frames(r->frames(), frames, depth)) {
      *id = at;
      return r;
    }
    at = r->next;
  }
  return nullptr;
}

StackId StackDepot::insert_locked(uint64_t hash, const uintptr_t* frames, unsigned depth,
                                  std::atomic<StackId>& bucket) {
  const uint64_t words = kHeaderWords + depth;
  const uint64_t record_bytes = words * sizeof(uint64_t);
  if (bytes_.load(std::memory_order_relaxed) + record_bytes > capacity_bytes_) {
    full_.store(true, std::memory_order_relaxed);  // from now on new stacks are refused without the lock
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const uint64_t cursor = cursor_.load(std::memory_order_relaxed);
  uint64_t chunk = cursor >> kChunkWordsShift;
  uint64_t offset = cursor & (kChunkWords - 1);
  if (offset + words > kChunkWords) ++chunk, offset = 0;
  if (chunk >= max_chunks_) {  // cannot happen while bytes_ <= capacity (one spare chunk); be safe
    full_.store(true, std::memory_order_relaxed);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  char* base = chunks_[chunk].load(std::memory_order_relaxed);
  if (base == nullptr) {
    base = static_cast<char*>(os::map(kChunkBytes));
    if (base == nullptr) {  // out of memory now; a later put may succeed
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    chunks_[chunk].store(base, std::memory_order_release);
    mapped_bytes_.fetch_add(kChunkBytes, std::memory_order_relaxed);
  }
  Record* r = reinterpret_cast<Record*>(base + offset * sizeof(uint64_t));
  r->hash = hash;
  r->next = bucket.load(std::memory_order_relaxed);
  r->depth = depth;
  r->cookie.store(0, std::memory_order_relaxed);
  memcpy(r->frames(), frames, depth * sizeof(uintptr_t));
  const uint64_t position = chunk << kChunkWordsShift | offset;
  cursor_.store(position + words, std::memory_order_release);
  stacks_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(record_bytes, std::memory_order_relaxed);
  const StackId id = StackId(position + 1);
  bucket.store(id, std::memory_order_release);  // publishes the record
  return id;
}

uint64_t StackDepot::hash_of(const uintptr_t* frames, unsigned depth) { return hash_frames(frames, depth); }

StackId StackDepot::put(const uintptr_t* frames, unsigned depth) {
  if (depth == 0 || frames == nullptr) return 0;
  if (depth > kMaxStackDepth) depth = kMaxStackDepth;
  return put_hashed(hash_frames(frames, depth), frames, depth);
}

StackId StackDepot::put_hashed(uint64_t hash, const uintptr_t* frames, unsigned depth) {
  if (MEMF_UNLIKELY(!ready_.load(std::memory_order_acquire))) {
    LockGuard guard(lock_);
    if (!ready_.load(std::memory_order_relaxed) && !init_locked(kDefaultStackDepotBytes)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
  }
  std::atomic<StackId>& bucket = buckets_[hash & bucket_mask_];
  const StackId head = bucket.load(std::memory_order_acquire);
  StackId id = 0;
  if (find(hash, frames, depth, head, 0, &id) == nullptr) {
    if (full_.load(std::memory_order_relaxed)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    LockGuard guard(lock_);
    // Another thread may have stored it since: only the records added after `head` are new.
    const StackId now = bucket.load(std::memory_order_acquire);
    if (now == head || find(hash, frames, depth, now, head, &id) == nullptr)
      return insert_locked(hash, frames, depth, bucket);
  }
  return id;
}

unsigned StackDepot::get(StackId id, const uintptr_t** frames) const {
  *frames = nullptr;
  if (id == 0 || !ready_.load(std::memory_order_acquire)) return 0;
  if (uint64_t(id) - 1 >= cursor_.load(std::memory_order_acquire)) return 0;
  const Record* r = record(id);
  *frames = r->frames();
  return r->depth;
}

std::atomic<uint32_t>* StackDepot::cookie(StackId id) {
  if (id == 0 || !ready_.load(std::memory_order_acquire)) return nullptr;
  if (uint64_t(id) - 1 >= cursor_.load(std::memory_order_acquire)) return nullptr;
  return &const_cast<Record*>(record(id))->cookie;
}

StackDepotStats StackDepot::stats() const {
  StackDepotStats s{};
  s.dropped = dropped_.load(std::memory_order_relaxed);  // also counts puts when init failed
  if (!ready_.load(std::memory_order_acquire)) return s;  // capacity is set before ready_
  s.stacks = stacks_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.mapped_bytes = mapped_bytes_.load(std::memory_order_relaxed);
  s.capacity_bytes = capacity_bytes_;
  return s;
}

void StackDepot::destroy() {
  LockGuard guard(lock_);
  if (!ready_.load(std::memory_order_relaxed)) return;
  for (size_t i = 0; i < max_chunks_; ++i)
    if (char* chunk = chunks_[i].load(std::memory_order_relaxed)) os::unmap(chunk, kChunkBytes);
  os::unmap(buckets_, round_up((bucket_mask_ + 1) * sizeof(StackId), kPageSize));
  os::unmap(chunks_, round_up(max_chunks_ * sizeof(char*), kPageSize));
  buckets_ = nullptr;
  chunks_ = nullptr;
  bucket_mask_ = max_chunks_ = capacity_bytes_ = 0;
  mapped_bytes_.store(0, std::memory_order_relaxed);
  cursor_.store(0, std::memory_order_relaxed);
  stacks_.store(0, std::memory_order_relaxed);
  bytes_.store(0, std::memory_order_relaxed);
  dropped_.store(0, std::memory_order_relaxed);
  full_.store(false, std::memory_order_relaxed);
  ready_.store(false, std::memory_order_release);
}

namespace detail {
__thread PutMemo* t_memo MEMF_TLS = nullptr;
}  // namespace detail

namespace {
constinit StackDepot g_depot;
using detail::kMemoShift;
using detail::PutMemo;
using detail::t_memo;

__thread bool t_memo_retired MEMF_TLS = false;  // the thread's exit handler has run
constinit SpareBlocks<PutMemo> g_spare_memos;

void retire_memo() {
  t_memo_retired = true;
  PutMemo* memo = t_memo;
  if (!memo) return;
  t_memo = nullptr;
  g_spare_memos.give(memo);
}

// The calling thread's memo, nullptr when it cannot have one (no memory, or past its exit). A
// spare memo's entries stay valid: ids of g_depot are never reused.
MEMF_NOINLINE PutMemo* take_memo() {
  if (t_memo_retired) return nullptr;
  PutMemo* memo = g_spare_memos.take();
  if (!memo) return nullptr;
  t_memo = memo;
  thread_exit_arm();
  return memo;
}

}  // namespace

bool stack_depot_init(size_t max_bytes) {
  fork_register(kForkStackDepot, {stack_depot_lock_all, stack_depot_unlock_all, stack_depot_reset_after_fork});
  thread_exit_register(kThreadExitStacks, retire_memo);
  return g_depot.init(max_bytes);
}

StackId stack_depot_put(const uintptr_t* frames, unsigned depth) {
  if (depth == 0 || frames == nullptr) return 0;
  if (depth > kMaxStackDepth) depth = kMaxStackDepth;
  return stack_depot_put_hashed(StackDepot::hash_of(frames, depth), frames, depth);
}

StackId stack_depot_put_hashed(uint64_t hash, const uintptr_t* frames, unsigned depth) {
  PutMemo* memo = t_memo;
  if (MEMF_UNLIKELY(!memo) && !(memo = take_memo())) return g_depot.put_hashed(hash, frames, depth);
  PutMemo::Entry& entry = memo->entries[hash >> (64 - kMemoShift)];
  if (MEMF_LIKELY(entry.hash == hash && entry.depth == depth && entry.innermost == frames[0] && entry.id != 0))
    return entry.id;
  const StackId id = g_depot.put_hashed(hash, frames, depth);
  if (id != 0) entry = {hash, frames[0], depth, id};
  return id;
}
unsigned stack_depot_get(StackId id, const uintptr_t** frames) { return g_depot.get(id, frames); }
std::atomic<uint32_t>* stack_depot_cookie(StackId id) { return g_depot.cookie(id); }
StackDepotStats stack_depot_stats() { return g_depot.stats(); }
StackMemoStats stack_depot_memo_stats() { return {g_spare_memos.mapped(), g_spare_memos.spare()}; }

void stack_depot_lock_all() {
  g_depot.lock_all();
  g_spare_memos.lock();
}
void stack_depot_unlock_all() {
  g_spare_memos.unlock();
  g_depot.unlock_all();
}
void stack_depot_reset_after_fork() {
  g_spare_memos.reset_after_fork();
  g_depot.reset_after_fork();
}

}  // namespace memf
