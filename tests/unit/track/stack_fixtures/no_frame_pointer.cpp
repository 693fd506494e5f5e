// Built with -fomit-frame-pointer (like Debian's libc and libstdc++): rbp holds data here, so
// a frame-pointer walk that reaches these frames must stop cleanly, and DWARF unwinding must
// pass through them.
#include "no_frame_pointer.hpp"

namespace stack_fixtures {

__attribute__((noinline)) static unsigned clobber_level(unsigned (*callback)(void*), void* context, unsigned level) {
  // Keep several values live across the calls so that the compiler allocates rbp to one of them.
  volatile unsigned long sink = 0;
  unsigned long a = level * 3 + 1, b = level * 5 + 2, c = level * 7 + 3, d = level * 11 + 4, e = level ^ 0x5a5a;
  unsigned result = level == 0 ? callback(context) : clobber_level(callback, context, level - 1);
  sink = a + b + c + d + e + result;
  return result + unsigned(sink & 0);
}

unsigned call_without_frame_pointers(unsigned (*callback)(void*), void* context, unsigned levels) {
  return clobber_level(callback, context, levels);
}

}  // namespace stack_fixtures
