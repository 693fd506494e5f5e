// What the kernel tells a process at start in its auxiliary vector (getauxval: no allocation,
// usable from the first malloc).
#pragma once
#include <cstdint>

namespace memf::auxv {

// AT_SECURE: a setuid/setgid or capability-raising execution, where the environment is the
// caller's and must not choose files to read or write.
bool secure_execution();
// AT_RANDOM: the kernel's 16 random bytes for this process, as two words (a fixed pattern if the
// vector has none).
void random_words(uint64_t (&words)[2]);
// AT_BASE: the load address of the dynamic linker; 0 for a static program.
uintptr_t loader_base();
// AT_ENTRY: the program's entry point (its _start); 0 if the vector has none.
uintptr_t entry_point();

}  // namespace memf::auxv
