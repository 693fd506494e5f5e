// Decompressed copies of separate debug files, kept between runs, for the symbolizer. Debian's
// debug files (libc6-dbg, the -dbgsym packages) hold zlib-compressed DWARF, and libdw inflates
// every section of a file when it first reads the file's DWARF: libc 2.36's 4 MB become 10 MB, at
// every report that gives a libc frame its file and line (each exact-mode profile), for about
// 0.1 s of CPU and 2500 page faults. A decompressed copy, made once and named by the module's
// build-id, is mapped instead, and libdw touches only the pages it reads (docs/stacks.md).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace memf {

struct Config;

// Where the copies go: MEMF_DEBUG_CACHE's directory, else $XDG_CACHE_HOME/memf/debug, else
// $HOME/.cache/memf/debug (a variable that is not an absolute path is passed over); the last two
// only when that directory exists and belongs to user. "" when none are kept:
// MEMF_DEBUG_CACHE=off, a secure-execution process, no usable directory.
std::string debug_cache_directory(const Config& config, const char* xdg_cache_home, const char* home, uid_t user);
// The same for this process: its configuration and environment.
std::string debug_cache_directory();

// The build-id in lower-case hex: the copy's name, without ".debug".
std::string build_id_hex(const void* build_id, size_t length);

// The decompressed copy of the debug file of build-id id (hex) in directory, if there is a valid
// one (an ELF file of that build-id with no compressed section): its read-only descriptor, with
// its path in *found (malloc'ed; libdw frees it); otherwise -1.
int open_decompressed_copy(const std::string& directory, const std::string& id, char** found);

// The debug file of build-id id where Debian installs it (/usr/lib/debug/.build-id/ab/cdef.debug)
// when that file has this build-id: as open_decompressed_copy. libdw's own lookup of the same file
// installs it in the module itself, so that the symbolizer could not hand libdw the copy instead.
int open_build_id_debug_file(const std::string& id, char** found);

// fd: an open debug file of build-id id. When the file has compressed sections and directory is
// not "": returns a descriptor of its decompressed copy in directory, made now if missing, after
// closing fd and replacing *found with the copy's path. Otherwise, or when no copy can be made
// (no libelf, no permission, too little space): fd itself, untouched. Report time only: may
// write a file of the decompressed size.
int decompressed_debug_file(int fd, const std::string& id, const std::string& directory, char** found);

// The build-id of the ELF file at fd in hex; "" when it has none or cannot be read.
std::string debug_file_build_id(int fd);

// Whether the ELF file at fd has sections compressed with SHF_COMPRESSED; false if unreadable.
bool has_compressed_sections(int fd);

}  // namespace memf
