#include "live_stack.hpp"

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>

#include "proc_maps.hpp"

namespace memf {
namespace {

struct CodeRange {
  uintptr_t begin = 0, end = 0;
};

// libc's exit, from its dynamic symbol (its size is there).
CodeRange exit_function() {
  Dl_info info;
  ElfW(Sym)* symbol = nullptr;
  void* const address = reinterpret_cast<void*>(&exit);
  if (dladdr1(address, &info, reinterpret_cast<void**>(&symbol), RTLD_DL_SYMENT) == 0 || symbol == nullptr ||
      symbol->st_size == 0)
    return {};
  const uintptr_t begin = uintptr_t(info.dli_saddr);
  return {begin, begin + symbol->st_size};
}

// A return address: it follows a `call rel32` (x86-64: opcode E8 and four bytes), the form
// exit's call of the handlers takes. Stale data that merely points into exit does not.
bool follows_call(uintptr_t value) { return *reinterpret_cast<const uint8_t*>(value - 5) == 0xE8; }

}  // namespace

uintptr_t live_stack_bottom_at_exit(uintptr_t sp) {
  const CodeRange code = exit_function();
  if (code.begin == 0) return 0;
  MapsSnapshot maps;
  if (!maps.read()) return 0;
  uintptr_t bottom = 0;
  if (const Mapping* stack = maps.find(sp); stack && stack->readable) {
    for (uintptr_t at = sp & ~uintptr_t(7); at + 8 <= stack->end; at += 8) {
      const uintptr_t value = *reinterpret_cast<const uintptr_t*>(at);
      // <= end: the call is exit's last instruction (the handlers never return), so the return
      // address is the first byte past the function.
      if (value >= code.begin + 5 && value <= code.end && follows_call(value)) {
        bottom = at + 8;
        break;
      }
    }
  }
  maps.release();
  return bottom;
}

}  // namespace memf
