#include "debug_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace memf {
namespace {

// 256 entries, one per low byte, built on first use (report time only).
struct CrcTable {
  uint32_t entry[256];
  CrcTable() {
    for (uint32_t byte = 0; byte < 256; ++byte) {
      uint32_t value = byte;
      for (int bit = 0; bit < 8; ++bit) value = (value >> 1) ^ (value & 1 ? 0xEDB88320u : 0);
      entry[byte] = value;
    }
  }
};

// The CRC of the whole file at fd; false when it cannot be read to its end.
bool file_crc(int fd, uint32_t* crc) {
  static char buffer[64 * 1024];  // callers hold the symbolizer's mutex
  uint32_t value = 0;
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) return false;
    value = debuglink_crc(value, buffer, size_t(got));
  }
  *crc = value;
  return true;
}

int open_if_crc_matches(const std::string& path, const char* module_path, uint32_t crc, char** found) {
  if (path == module_path) return -1;  // the module itself: its link names another file
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  uint32_t actual = 0;
  if (!file_crc(fd, &actual) || actual != crc || lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return -1;
  }
  *found = strdup(path.c_str());
  return fd;
}

}  // namespace

uint32_t debuglink_crc(uint32_t crc, const void* data, size_t size) {
  static const CrcTable table;
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint32_t value = ~crc;
  for (size_t i = 0; i < size; ++i) value = table.entry[(value ^ bytes[i]) & 0xFF] ^ (value >> 8);
  return ~value;
}

int open_debuglink_file(const char* module_path, const char* link, uint32_t crc, char** found) {
  if (module_path == nullptr || link == nullptr || *link == '\0' || strchr(link, '/') != nullptr) return -1;
  const char* slash = strrchr(module_path, '/');
  if (slash == nullptr) return -1;
  const std::string directory(module_path, slash);  // "" for a module in /
  for (const std::string& candidate : {directory + "/" + link, directory + "/.debug/" + link,
                                       "/usr/lib/debug" + directory + "/" + link}) {
    const int fd = open_if_crc_matches(candidate, module_path, crc, found);
    if (fd >= 0) return fd;
  }
  return -1;
}

bool debuginfod_servers_set() {
  const char* urls = getenv("DEBUGINFOD_URLS");
  if (urls == nullptr) return false;
  for (; *urls; ++urls)
    if (*urls != ' ' && *urls != '\t') return true;
  return false;
}

}  // namespace memf
