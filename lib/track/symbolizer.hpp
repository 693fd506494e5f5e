// Turns code addresses of this process into function, module, source file and line, with
// elfutils' libdw (ELF symbol tables, DWARF line tables and inline scopes, separate debug files
// found by build-id such as Debian's -dbg/-dbgsym packages). Report time only: it allocates
// through the normal allocator and takes a mutex.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

struct SymbolizedFrame {
  uintptr_t pc = 0;              // the address as given
  const char* function = "?";    // demangled C++ / plain C name; "?" when unknown
  const char* module = "?";      // path of the executable or shared object; "?" when none
  uintptr_t offset = 0;          // pc in the module's ELF address space (pc - load bias), as
                                 // `addr2line -e module` takes it
  const char* file = nullptr;    // source file (absolute when the DWARF says where it was built)
  unsigned line = 0;             // 0 without line information
  unsigned column = 0;
  bool inlined = false;          // the code at pc was inlined into the next frame's function
};

// What a pc is: return addresses (every captured frame) point after their call instruction and
// are looked up at pc - 1, so that a call ending a function or a line gets its own line.
enum class PcKind : uint8_t { kReturnAddress, kExact };

// The function containing pc (the physical one: for inlined code, the function it was inlined
// into, at the line of the outermost inlined call). false when pc lies in no loaded module
// (out->module and out->function are "?"). Strings stay valid until symbolizer_reset().
bool symbolize(uintptr_t pc, SymbolizedFrame* out, PcKind kind = PcKind::kReturnAddress);

// Every frame at pc, innermost first: the inlined calls (inlined = true), then the physical
// function, each at its own line. Stores the first max of them and returns how many it stored;
// for a pc in no loaded module, one frame as symbolize() fills it, and returns 0.
unsigned symbolize_inlined(uintptr_t pc, SymbolizedFrame* out, unsigned max,
                           PcKind kind = PcKind::kReturnAddress);

// Calls visit(pc, frame) for every frame of the return addresses pcs[0..n), innermost first,
// inlined calls expanded (symbolize_inlined, at most kMaxInlinedFrames a pc); a pc in no module
// gives its one frame with "?". What every printed stack is made of.
constexpr unsigned kMaxInlinedFrames = 16;
template <class Visit>
void for_each_symbolized_frame(const uintptr_t* pcs, unsigned n, Visit&& visit) {
  for (unsigned i = 0; i < n; ++i) {
    SymbolizedFrame frames[kMaxInlinedFrames];
    unsigned count = symbolize_inlined(pcs[i], frames, kMaxInlinedFrames);
    if (count == 0) count = 1;  // in no module: frames[0] holds the pc with "?"
    for (unsigned k = 0; k < count; ++k) visit(pcs[i], frames[k]);
  }
}

// Symbolizes, ahead of any report, an address in libc and the program's entry point: modules
// that a profile recording every allocation nearly always names, whose debug information is
// otherwise read when the first report is written (from Debian's libc6-dbg, compressed: 0.07 s
// for libc alone). For a thread with time to spare; holds the symbolizer's mutex meanwhile, so a
// report waits for it.
void symbolizer_warm_up();

// Addresses whose frames the symbolizer holds (each looked up once).
size_t symbolizer_cached_addresses();
// Runs hold(arg) with the symbolizer's mutex held, as a symbolization in progress holds it:
// for tests of what a fork meanwhile leaves the child.
void symbolizer_while_busy(void (*hold)(void*), void* arg);

// Drops the module list and every cached result (strings handed out become invalid); the next
// call reads /proc/self/maps again. Modules loaded after the first call are picked up without
// this (an address in no known module makes the list be read again once).
void symbolizer_reset();

}  // namespace memf
