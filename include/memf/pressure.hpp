// memf's memory-pressure interface for C++: levels, RAII subscriptions, the optimizer, and an
// evictable cache the optimizer shrinks under pressure. See docs/pressure.md.
#pragma once
#include <memf/memf.h>
#include <memf/pressure.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace memf {

enum class PressureLevel : int { None = MEMF_PRESSURE_NONE, Moderate = MEMF_PRESSURE_MODERATE, Critical = MEMF_PRESSURE_CRITICAL };

// Calls fn(level) on memf's monitor thread at every level change while the token lives. The
// destructor (or reset) returns only when fn is not running, so fn may use what the token's
// owner owns.
// [[nodiscard]]: a subscription dropped at once ends at once.
class [[nodiscard]] PressureSubscription {
 public:
  PressureSubscription() = default;
  [[nodiscard]] explicit PressureSubscription(std::function<void(PressureLevel)> fn) : holder_(new Holder{std::move(fn)}) {
    id_ = memf_on_pressure(&trampoline, holder_.get());
    if (id_ < 0) holder_.reset();
  }
  ~PressureSubscription() { reset(); }
  PressureSubscription(PressureSubscription&& other) noexcept : holder_(std::move(other.holder_)), id_(other.id_) { other.id_ = -1; }
  PressureSubscription& operator=(PressureSubscription&& other) noexcept {
    if (this != &other) {
      reset();
      holder_ = std::move(other.holder_);
      id_ = other.id_;
      other.id_ = -1;
    }
    return *this;
  }
  PressureSubscription(const PressureSubscription&) = delete;
  PressureSubscription& operator=(const PressureSubscription&) = delete;

  void reset() {
    if (id_ > 0) memf_off_pressure(id_);
    id_ = -1;
    holder_.reset();
  }
  bool active() const { return id_ > 0; }
  int id() const { return id_; }

 private:
  struct Holder {
    std::function<void(PressureLevel)> fn;
  };
  static void trampoline(int level, void* ctx) { static_cast<Holder*>(ctx)->fn(PressureLevel(level)); }
  std::unique_ptr<Holder> holder_;  // heap: its address stays the same when the token moves
  int id_ = -1;
};

struct OptimizationStep {
  std::string name;
  size_t bytesFreed;  // returned to the OS, or reported by caches ("evict caches")
  size_t blocks;      // blocks moved back to their slabs ("drain caches", "return evicted")
  std::chrono::nanoseconds duration;
};

struct OptimizationReport {
  PressureLevel level;
  size_t bytesWanted;
  size_t bytesFreed;
  bool targetMet;
  unsigned cachesCalled;
  std::vector<OptimizationStep> steps;  // in the order they ran
};

// The process's pressure handling: levels, limits, the optimizer and its triggers.
class MEMF_API MemoryOptimizer {
 public:
  enum class LimitAction { Warn = MEMF_LIMIT_WARN, Fail = MEMF_LIMIT_FAIL };

  static MemoryOptimizer& getInstance();

  PressureLevel getPressureLevel() const;
  memf_pressure_info getPressureInfo() const;
  // The smallest of memf's own limit, the cgroup's and physical memory (0 = none found).
  size_t getEffectiveLimit() const;

  // memf's own limit: the same as memf_set_limit (0 removes it).
  void setMemoryLimit(size_t bytes);
  void setLimitAction(LimitAction action);
  // Fractions of a limit where moderate and critical start, and how far below its start a
  // level ends. False (nothing changed) unless 0 < moderate < critical <= 1, 0 <= hysteresis < moderate.
  bool setThresholds(double moderate, double critical, double hysteresis);
  void setPollInterval(std::chrono::milliseconds interval);

  // Runs the optimizer now until bytesWanted are freed (SIZE_MAX: every step, every cache).
  OptimizationReport optimize(size_t bytesWanted = SIZE_MAX);
  // The last run, whatever triggered it (level rise, growth at critical, hard limit, manual).
  OptimizationReport getLastReport() const;

  // The subscription lasts while the returned token lives.
  [[nodiscard]] PressureSubscription onPressure(std::function<void(PressureLevel)> fn) {
    return PressureSubscription(std::move(fn));
  }

  // Per size class with slabs: committed bytes against the bytes the program holds.
  std::vector<memf_class_fragmentation> getFragmentation() const;

  // Gives back what memf can without touching live blocks (memf_release_memory).
  size_t releaseMemory();

  // Defragmentation (memf_defrag_hint / memf_defrag_move): whether p sits in a slab sparser than
  // its class's average, and p's new address after moving it to the fullest other slab (p itself
  // when that would not help). The caller updates its references.
  static bool defragHint(const void* p) { return memf_defrag_hint(p) != 0; }
  template <typename T>
  [[nodiscard]] static T* defragMove(T* p) {
    return static_cast<T*>(memf_defrag_move(const_cast<void*>(static_cast<const void*>(p))));
  }

  MemoryOptimizer(const MemoryOptimizer&) = delete;
  MemoryOptimizer& operator=(const MemoryOptimizer&) = delete;

 private:
  MemoryOptimizer() = default;
};

enum class EvictionPolicy {
  LRU,        // least recently used first
  LFU,        // least frequently used first (ties: least recently used)
  FIFO,       // oldest insertion first
  SizeAware,  // GreedyDual-Size-Frequency: lowest (age + uses / bytes) first, so large,
              // rarely used entries go before small, popular ones
};

namespace detail {
template <class T, class = void>
struct HasDynamicSize : std::false_type {};
template <class T>
struct HasDynamicSize<T, std::void_t<decltype(std::declval<const T&>().size()), typename T::value_type>> : std::true_type {};
template <class T>
size_t approximateSize(const T& value) {
  if constexpr (HasDynamicSize<T>::value) return sizeof(T) + value.size() * sizeof(typename T::value_type);
  else return sizeof(T);
}
}  // namespace detail

// A thread-safe key-value cache registered with memf's optimizer: under pressure memf asks it to
// give back bytes and it evicts entries by its policy. Its own capacity (bytes) is enforced on
// put. Entry sizes come from sizeOf (default: sizeof key and value plus a string's or vector's
// elements). The cache must not move (memf holds its address): it is neither copyable nor movable.
template <class Key, class Value, class Hash = std::hash<Key>>
class EvictableCache {
 public:
  using SizeFn = std::function<size_t(const Key&, const Value&)>;
  struct Stats {
    uint64_t hits, misses, insertions, evictions, evictedBytes, pressureEvictedBytes;
  };

  explicit EvictableCache(const char* name, EvictionPolicy policy = EvictionPolicy::LRU, size_t capacityBytes = SIZE_MAX,
                          int priority = 0, SizeFn sizeOf = nullptr)
      : policy_(policy), capacity_(capacityBytes), sizeOf_(std::move(sizeOf)) {
    if (!sizeOf_) sizeOf_ = [](const Key& k, const Value& v) { return detail::approximateSize(k) + detail::approximateSize(v); };
    id_ = memf_cache_register(name, &evictHook, this, priority);
  }
  // Unregisters first: when memf_cache_unregister returns no eviction runs, so the members can go.
  ~EvictableCache() {
    if (id_ > 0) memf_cache_unregister(id_);
  }
  EvictableCache(const EvictableCache&) = delete;
  EvictableCache& operator=(const EvictableCache&) = delete;

  // Inserts or replaces. The entry's memory is allocated before the lock is taken, so an
  // allocation that runs the optimizer can evict from this cache too.
  void put(const Key& key, Value value) {
    const size_t bytes = sizeOf_(key, value);
    Map staging;
    staging.emplace(key, Entry{std::move(value), bytes, 0, 0, 0});
    auto node = staging.extract(staging.begin());
    OrderSet order_staging;
    order_staging.emplace(0.0, 0, nullptr);
    auto order_node = order_staging.extract(order_staging.begin());
    std::lock_guard<std::mutex> guard(mutex_);
    if (auto it = map_.find(key); it != map_.end()) removeLocked(it);
    auto inserted = map_.insert(std::move(node));
    Entry& entry = inserted.position->second;
    entry.seq = ++tick_;
    entry.uses = 1;
    entry.score = scoreOf(entry);
    order_node.value() = std::make_tuple(entry.score, entry.seq, &inserted.position->first);
    order_.insert(std::move(order_node));
    bytes_ += bytes;
    ++stats_.insertions;
    // The new entry is not a candidate: under LFU it would always be the least used.
    while (bytes_ > capacity_ && map_.size() > 1) evictOneLocked(false, &inserted.position->first);
  }

  // A copy of the value, counted as a use.
  std::optional<Value> get(const Key& key) {
    std::lock_guard<std::mutex> guard(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) {
      ++stats_.misses;
      return std::nullopt;
    }
    ++stats_.hits;
    touchLocked(it);
    return it->second.value;
  }

  bool contains(const Key& key) const {
    std::lock_guard<std::mutex> guard(mutex_);
    return map_.count(key) != 0;
  }
  bool erase(const Key& key) {
    std::lock_guard<std::mutex> guard(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    removeLocked(it);
    return true;
  }
  void clear() {
    std::lock_guard<std::mutex> guard(mutex_);
    order_.clear();
    map_.clear();
    bytes_ = 0;
  }
  // Evicts by the policy until bytesWanted are freed or the cache is empty; the bytes freed.
  size_t evict(size_t bytesWanted) {
    std::lock_guard<std::mutex> guard(mutex_);
    return evictLocked(bytesWanted, false);
  }

  size_t size() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return map_.size();
  }
  size_t bytes() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return bytes_;
  }
  size_t capacityBytes() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return capacity_;
  }
  void setCapacityBytes(size_t capacity) {
    std::lock_guard<std::mutex> guard(mutex_);
    capacity_ = capacity;
    while (bytes_ > capacity_ && !map_.empty()) evictOneLocked(false);
  }
  Stats stats() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return stats_;
  }
  EvictionPolicy policy() const { return policy_; }
  int registrationId() const { return id_; }

 private:
  struct Entry {
    Value value;
    size_t bytes;
    uint64_t uses;
    uint64_t seq;  // insertion (FIFO) or last use (others)
    double score;  // lowest goes first
  };
  using Map = std::unordered_map<Key, Entry, Hash>;  // node-based: key addresses are stable
  using OrderKey = std::tuple<double, uint64_t, const Key*>;
  using OrderSet = std::set<OrderKey>;

  // Called by memf's optimizer, possibly inside an allocation of a thread that holds mutex_.
  static size_t evictHook(size_t wanted, void* ctx) {
    auto* self = static_cast<EvictableCache*>(ctx);
    std::unique_lock<std::mutex> lock(self->mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return 0;
    return self->evictLocked(wanted, true);
  }

  double scoreOf(const Entry& entry) const {
    switch (policy_) {
      case EvictionPolicy::LRU:
      case EvictionPolicy::FIFO:
        return double(entry.seq);
      case EvictionPolicy::LFU:
        return double(entry.uses);
      case EvictionPolicy::SizeAware:
        return inflation_ + double(entry.uses) / double(entry.bytes ? entry.bytes : 1);
    }
    return 0;
  }

  void touchLocked(typename Map::iterator it) {
    Entry& entry = it->second;
    auto node = order_.extract(OrderKey(entry.score, entry.seq, &it->first));
    ++entry.uses;
    if (policy_ != EvictionPolicy::FIFO) entry.seq = ++tick_;
    entry.score = scoreOf(entry);
    node.value() = OrderKey(entry.score, entry.seq, &it->first);
    order_.insert(std::move(node));  // reuses the node: no allocation
  }

  void removeLocked(typename Map::iterator it) {
    order_.erase(OrderKey(it->second.score, it->second.seq, &it->first));
    bytes_ -= it->second.bytes;
    map_.erase(it);
  }

  size_t evictOneLocked(bool pressure, const Key* keep = nullptr) {
    auto victim = order_.begin();
    if (std::get<2>(*victim) == keep) ++victim;
    const Key* key = std::get<2>(*victim);
    auto it = map_.find(*key);
    const size_t freed = it->second.bytes;
    // GDSF ages the survivors: later entries start from the evicted entry's score.
    if (policy_ == EvictionPolicy::SizeAware) inflation_ = std::get<0>(*victim);
    order_.erase(victim);
    bytes_ -= freed;
    map_.erase(it);
    ++stats_.evictions;
    stats_.evictedBytes += freed;
    if (pressure) stats_.pressureEvictedBytes += freed;
    return freed;
  }

  size_t evictLocked(size_t wanted, bool pressure) {
    size_t freed = 0;
    while (freed < wanted && !order_.empty()) freed += evictOneLocked(pressure);
    return freed;
  }

  mutable std::mutex mutex_;
  EvictionPolicy policy_;
  size_t capacity_;
  SizeFn sizeOf_;
  Map map_;
  OrderSet order_;
  size_t bytes_ = 0;
  uint64_t tick_ = 0;
  double inflation_ = 0;
  Stats stats_{};
  int id_ = -1;
};

}  // namespace memf
