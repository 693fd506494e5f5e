#include "proc_maps.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace memf {
namespace {

long syscall_keep_errno(long number, long a, long b, long c) {
  const int saved = errno;
  const long result = syscall(number, a, b, c);
  errno = saved;
  return result;
}

// One line at a time: "begin-end perms offset dev inode   path". Only the addresses, the read
// permission and whether the path is "[heap]" matter; a malformed line is skipped.
class LineParser {
 public:
  // Feeds one byte; true when c ended a well-formed line, which *out then holds.
  bool feed(char c, Mapping* out) {
    if (c == '\n') {
      const bool complete = field_ >= kRest && !malformed_ && end_ > begin_;
      if (complete) *out = Mapping{begin_, end_, readable_, tail_matches("[heap]")};
      reset();
      return complete;
    }
    if (malformed_) return false;
    switch (field_) {
      case kBegin:
      case kEnd: {
        const int digit = hex_digit(c);
        if (digit >= 0) {
          uintptr_t& value = field_ == kBegin ? begin_ : end_;
          value = value << 4 | uintptr_t(digit);
        } else if (field_ == kBegin && c == '-') {
          field_ = kEnd;
        } else if (field_ == kEnd && c == ' ') {
          field_ = kPermissions;
        } else {
          malformed_ = true;
        }
        break;
      }
      case kPermissions:
        readable_ = c == 'r';
        field_ = kRest;
        break;
      default:
        tail_[tail_length_++ % kTail] = c;
        break;
    }
    return false;
  }

 private:
  enum Field { kBegin, kEnd, kPermissions, kRest };
  static constexpr unsigned kTail = 8;

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  // Whether the line ended with suffix (at most kTail bytes).
  bool tail_matches(const char* suffix) const {
    const unsigned n = unsigned(strlen(suffix));
    if (n > kTail || tail_length_ < n) return false;
    for (unsigned i = 0; i < n; ++i)
      if (tail_[(tail_length_ - n + i) % kTail] != suffix[i]) return false;
    return true;
  }
  void reset() {
    begin_ = end_ = 0;
    field_ = kBegin;
    readable_ = malformed_ = false;
    tail_length_ = 0;
  }

  uintptr_t begin_ = 0, end_ = 0;
  Field field_ = kBegin;
  bool readable_ = false, malformed_ = false;
  char tail_[kTail] = {};
  unsigned tail_length_ = 0;
};

}  // namespace

bool for_each_mapping(bool (*visit)(const Mapping& mapping, void* context), void* context) {
  const long fd = syscall_keep_errno(SYS_openat, AT_FDCWD, long("/proc/self/maps"), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[512];
  LineParser parser;
  bool more = true;
  while (more) {
    const long n = syscall_keep_errno(SYS_read, fd, long(buffer), sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    Mapping mapping;
    for (long i = 0; i < n && more; ++i)
      if (parser.feed(buffer[i], &mapping)) more = visit(mapping, context);
  }
  syscall_keep_errno(SYS_close, fd, 0, 0);
  return true;
}

bool find_mapping(uintptr_t address, Mapping* out) {
  struct Search {
    uintptr_t address;
    Mapping* out;
    bool found;
  } search{address, out, false};
  for_each_mapping(
      [](const Mapping& m, void* context) {
        auto& s = *static_cast<Search*>(context);
        if (m.begin <= s.address && s.address < m.end) {
          *s.out = m;
          s.found = true;
        }
        return !s.found && m.begin <= s.address;  // sorted: nothing further can hold it
      },
      &search);
  return search.found;
}

bool MapsSnapshot::read() {
  release();
  constexpr size_t kMaxMappings = size_t(1) << 16;
  if (!list_.map(kMaxMappings)) return false;
  const bool ok = for_each_mapping(
      [](const Mapping& m, void* context) {
        auto& self = *static_cast<MapsSnapshot*>(context);
        if (self.count_ == self.list_.capacity) return false;
        self.list_[self.count_++] = m;
        return true;
      },
      this);
  if (!ok) release();
  return ok;
}

const Mapping* MapsSnapshot::find(uintptr_t address) const {
  size_t l = 0, r = count_;
  while (l < r) {
    const size_t m = (l + r) / 2;
    if (list_[m].end <= address) l = m + 1;
    else r = m;
  }
  return l < count_ && list_[l].begin <= address ? &list_[l] : nullptr;
}

void MapsSnapshot::release() {
  list_.unmap();
  count_ = 0;
}

}  // namespace memf
