#include "auxv.hpp"

#include <sys/auxv.h>

#include <cstring>

namespace memf::auxv {

bool secure_execution() { return getauxval(AT_SECURE) != 0; }

void random_words(uint64_t (&words)[2]) {
  words[0] = 0x9e3779b97f4a7c15ull;
  words[1] = 0;
  if (const void* random = reinterpret_cast<const void*>(getauxval(AT_RANDOM))) memcpy(words, random, sizeof(words));
}

uintptr_t loader_base() { return uintptr_t(getauxval(AT_BASE)); }

uintptr_t entry_point() { return uintptr_t(getauxval(AT_ENTRY)); }

}  // namespace memf::auxv
