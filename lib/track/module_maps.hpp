// The lines of /proc/self/maps that belong to modules the dynamic loader has mapped, for the
// symbolizer's module list. libdw reads ELF and debug files through private mappings of its own,
// and those show in /proc/self/maps under the same file names: read whole, libdw takes each for
// a part of that module, so a module's extent grows over the mapping, and a library loaded later
// where such a mapping was freed is named as the wrong module.
#pragma once
#include <string>

namespace memf {

// The text of /proc/self/maps restricted to lines that overlap a PT_LOAD segment of a module
// in the loader's list (dl_iterate_phdr): the executable, ld.so, every loaded library. Empty when
// the file cannot be read. Report time only: allocates.
std::string loaded_module_maps();

}  // namespace memf
