// Separate debug files found on this machine only, for the symbolizer: by build-id (libdw's
// own lookup under /usr/lib/debug/.build-id) and by the module's .gnu_debuglink name. libdw's
// standard lookup ends by asking debuginfod servers, and for that loads libdebuginfod with some
// thirty libraries (curl, TLS, Kerberos, LDAP) into the process, even when no server is set:
// about 0.02 s and 6-9 MiB of peak RSS at the first report of a process with a module lacking
// debug information (docs/stacks.md). The symbolizer takes the standard lookup only when
// DEBUGINFOD_URLS names servers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

// The CRC-32 a .gnu_debuglink section stores (the IEEE 802.3 polynomial, reflected, as zlib's
// crc32), continued from crc over size bytes; start with 0.
uint32_t debuglink_crc(uint32_t crc, const void* data, size_t size);

// Opens the debug file that the module at module_path names in its .gnu_debuglink (link, crc),
// looking where gdb and libdw look: the module's directory, its .debug subdirectory, and that
// directory under /usr/lib/debug (module_path as /proc/self/maps gives it: no symlink). Only a
// file whose CRC matches is taken. Returns the open descriptor and stores its path in *found
// (malloc'ed, as libdw frees it), or -1. Report time only: reads whole files.
int open_debuglink_file(const char* module_path, const char* link, uint32_t crc, char** found);

// Whether libdw's standard lookup may be used: DEBUGINFOD_URLS names at least one server.
bool debuginfod_servers_set();

}  // namespace memf
