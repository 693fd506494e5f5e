// glibc's mallinfo2() and mallinfo() from memf's own figures: programs and monitoring read
// them (uordblks above all) and would otherwise see zeros under memf.
#pragma once
#include <cstddef>

namespace memf {

// The layouts of glibc's struct mallinfo2 and struct mallinfo (<malloc.h>), field for field:
// interpose/ returns these from the exported symbols without including <malloc.h>, whose
// declarations of the allocation functions carry exception specifications of their own.
struct MallinfoSizes {
  size_t arena;     // bytes the pools have from the system (committed slabs)
  size_t ordblks;   // 0: memf keeps no free chunks in glibc's sense
  size_t smblks;    // 0
  size_t hblks;     // live large blocks (mimalloc's and whole mappings)
  size_t hblkhd;    // their bytes
  size_t usmblks;   // 0, as in glibc
  size_t fsmblks;   // 0
  size_t uordblks;  // live bytes in the pools: with hblkhd, the program's live bytes
                    // (memf_get_stats's current_bytes), as glibc splits arena and mmapped chunks
  size_t fordblks;  // pool bytes not in live blocks
  size_t keepcost;  // bytes of empty committed slabs, which malloc_trim gives back
};
struct MallinfoInts {
  int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};

MallinfoSizes malloc_info_sizes();
// The same, each figure saturated at INT_MAX (glibc's wraps).
MallinfoInts malloc_info_ints();

}  // namespace memf
