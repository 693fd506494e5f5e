#include "free_mark.hpp"

#include "auxv.hpp"

namespace memf {

uintptr_t free_key_for(uintptr_t pool_base) {
  uint64_t words[2];
  auxv::random_words(words);
  return uintptr_t(words[0] ^ (words[1] << 1) ^ pool_base) | 1 | (uintptr_t(1) << 63);
}

}  // namespace memf
