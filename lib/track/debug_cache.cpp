#include "debug_cache.hpp"

#include <dlfcn.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config.hpp"

namespace memf {
namespace {

// libelf (loaded with libdw already, so opening it again only counts a reference) and libdw's
// build-id reader. Resolved at first use; memf does not link either.
struct ElfCalls {
#define MEMF_ELF_FUNCTIONS(X)                                                                 \
  X(elf_version) X(elf_begin) X(elf_end) X(elf_nextscn) X(gelf_getehdr) X(gelf_getshdr) X(gelf_getchdr) \
  X(elf_compress) X(elf_update)
#define MEMF_ELF_POINTER(name) decltype(&::name) name = nullptr;
  MEMF_ELF_FUNCTIONS(MEMF_ELF_POINTER)
#undef MEMF_ELF_POINTER
  decltype(&::dwelf_elf_gnu_build_id) build_id = nullptr;

  bool load() {
    void* elf = dlopen("libelf.so.1", RTLD_NOW | RTLD_LOCAL);
    void* dw = elf ? dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL) : nullptr;
    if (dw == nullptr) return false;
    bool complete = true;
#define MEMF_ELF_RESOLVE(name) \
  complete = complete && (name = reinterpret_cast<decltype(&::name)>(dlsym(elf, #name))) != nullptr;
    MEMF_ELF_FUNCTIONS(MEMF_ELF_RESOLVE)
#undef MEMF_ELF_RESOLVE
    build_id = reinterpret_cast<decltype(build_id)>(dlsym(dw, "dwelf_elf_gnu_build_id"));
    if (!complete || build_id == nullptr) return false;
    elf_version(EV_CURRENT);
    return true;
  }
};

const ElfCalls* elf_calls() {
  static ElfCalls calls;
  static const bool usable = calls.load();
  return usable ? &calls : nullptr;
}

// The decompressed size the file's compressed sections will take, added up; 0 when none is
// compressed.
uint64_t inflated_bytes(const ElfCalls& calls, Elf* elf) {
  uint64_t bytes = 0;
  for (Elf_Scn* section = nullptr; (section = calls.elf_nextscn(elf, section)) != nullptr;) {
    GElf_Shdr header;
    GElf_Chdr compression;
    if (calls.gelf_getshdr(section, &header) == nullptr || !(header.sh_flags & SHF_COMPRESSED)) continue;
    bytes += calls.gelf_getchdr(section, &compression) ? compression.ch_size : header.sh_size;
  }
  return bytes;
}

// Whether the section headers and every section's contents lie within the file's size bytes
// (libelf opens a truncated file and finds its first sections).
bool complete_file(const ElfCalls& calls, Elf* elf, uint64_t size) {
  GElf_Ehdr file;
  if (calls.gelf_getehdr(elf, &file) == nullptr) return false;
  if (file.e_shoff + uint64_t(file.e_shnum) * file.e_shentsize > size) return false;
  for (Elf_Scn* section = nullptr; (section = calls.elf_nextscn(elf, section)) != nullptr;) {
    GElf_Shdr header;
    if (calls.gelf_getshdr(section, &header) == nullptr) return false;
    if (header.sh_type != SHT_NOBITS && header.sh_offset + header.sh_size > size) return false;
  }
  return true;
}

// Whether the file at fd is a whole ELF file with this build-id and, with decompressed, no
// compressed section.
bool is_debug_file_of(const ElfCalls& calls, int fd, const std::string& id, bool decompressed) {
  struct stat status;
  if (fstat(fd, &status) != 0) return false;
  Elf* elf = calls.elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) return false;
  const void* bits = nullptr;
  const ssize_t length = calls.build_id(elf, &bits);
  const bool valid = length > 0 && build_id_hex(bits, size_t(length)) == id &&
                     complete_file(calls, elf, uint64_t(status.st_size)) &&
                     (!decompressed || inflated_bytes(calls, elf) == 0);
  calls.elf_end(elf);
  return valid;
}

// The file at path when it is a debug file of build-id id: as open_decompressed_copy. A copy
// (decompressed) must also be the user's own: another user's, in a directory both can write to,
// is not read.
int open_debug_file_of(const std::string& path, const std::string& id, bool decompressed, char** found) {
  const ElfCalls* calls = elf_calls();
  if (calls == nullptr || id.empty()) return -1;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat status;
  const bool owned = fstat(fd, &status) == 0 && (!decompressed || status.st_uid == geteuid());
  if (!owned || !is_debug_file_of(*calls, fd, id, decompressed)) {
    close(fd);
    return -1;
  }
  free(*found);
  *found = strdup(path.c_str());
  return fd;
}

bool make_directories(const std::string& path) {
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at != path.size() && path[at] != '/') continue;
    const std::string prefix = path.substr(0, at);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  struct stat status;
  return stat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode);
}

bool copy_whole_file(int from, int to) {
  struct stat status;
  if (fstat(from, &status) != 0) return false;
  off_t offset = 0;
  while (offset < status.st_size) {
    const ssize_t sent = sendfile(to, from, &offset, size_t(status.st_size - offset));
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
  }
  return true;
}

// Writes the decompressed copy of the file at fd to path (through a file of this process's own,
// renamed at the end, so that a reader never sees half a copy); false when it could not.
bool write_copy(const ElfCalls& calls, int fd, const std::string& directory, const std::string& path) {
  Elf* source = calls.elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (source == nullptr) return false;
  const uint64_t inflated = inflated_bytes(calls, source);
  calls.elf_end(source);
  struct stat status;
  if (inflated == 0 || fstat(fd, &status) != 0) return false;
  // Room for the copy twice over, and 64 MiB left for everything else.
  struct statvfs space;
  const uint64_t needed = 2 * (uint64_t(status.st_size) + inflated) + (uint64_t(64) << 20);
  if (statvfs(directory.c_str(), &space) != 0 || uint64_t(space.f_bavail) * space.f_frsize < needed) return false;

  // A new file of this process's: a left-over of a process with this pid is removed, and a link
  // planted under the name (a directory others can write to) is neither followed nor written.
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  unlink(temporary.c_str());
  const int out = open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (out < 0) return false;
  bool written = copy_whole_file(fd, out);
  Elf* copy = written ? calls.elf_begin(out, ELF_C_RDWR, nullptr) : nullptr;
  written = copy != nullptr;
  for (Elf_Scn* section = nullptr; written && (section = calls.elf_nextscn(copy, section)) != nullptr;) {
    GElf_Shdr header;
    if (calls.gelf_getshdr(section, &header) == nullptr) written = false;
    else if (header.sh_flags & SHF_COMPRESSED) written = calls.elf_compress(section, 0, 0) >= 0;
  }
  // libelf lays the sections out again for their new sizes and writes the whole file.
  written = written && calls.elf_update(copy, ELF_C_WRITE) >= 0;
  if (copy != nullptr) calls.elf_end(copy);
  written = close(out) == 0 && written && rename(temporary.c_str(), path.c_str()) == 0;
  if (!written) unlink(temporary.c_str());
  return written;
}

// A default place only under a directory of the user's own: root under sudo keeps the caller's
// HOME, and would otherwise leave root's files and directories in the caller's cache.
bool usable_base(const char* directory, uid_t user) {
  struct stat status;
  return directory && directory[0] == '/' && stat(directory, &status) == 0 && S_ISDIR(status.st_mode) &&
         status.st_uid == user;
}

}  // namespace

std::string debug_cache_directory(const Config& config, const char* xdg_cache_home, const char* home, uid_t user) {
  if (config.debug_cache_off || config.secure) return "";
  if (config.debug_cache[0]) return config.debug_cache;
  if (xdg_cache_home && xdg_cache_home[0] == '/') {
    return usable_base(xdg_cache_home, user) ? std::string(xdg_cache_home) + "/memf/debug" : std::string();
  }
  return usable_base(home, user) ? std::string(home) + "/.cache/memf/debug" : std::string();
}

std::string debug_cache_directory() {
  load_config();
  return debug_cache_directory(config(), getenv("XDG_CACHE_HOME"), getenv("HOME"), geteuid());
}

std::string build_id_hex(const void* build_id, size_t length) {
  static const char digits[] = "0123456789abcdef";
  const auto* bytes = static_cast<const unsigned char*>(build_id);
  std::string hex;
  for (size_t i = 0; i < length; ++i) {
    hex += digits[bytes[i] >> 4];
    hex += digits[bytes[i] & 15];
  }
  return hex;
}

std::string debug_file_build_id(int fd) {
  const ElfCalls* calls = elf_calls();
  Elf* elf = calls ? calls->elf_begin(fd, ELF_C_READ_MMAP, nullptr) : nullptr;
  if (elf == nullptr) return "";
  const void* bits = nullptr;
  const ssize_t length = calls->build_id(elf, &bits);
  std::string id = length > 0 ? build_id_hex(bits, size_t(length)) : std::string();
  calls->elf_end(elf);
  return id;
}

bool has_compressed_sections(int fd) {
  const ElfCalls* calls = elf_calls();
  Elf* elf = calls ? calls->elf_begin(fd, ELF_C_READ_MMAP, nullptr) : nullptr;
  if (elf == nullptr) return false;
  const bool compressed = inflated_bytes(*calls, elf) > 0;
  calls->elf_end(elf);
  return compressed;
}

int open_decompressed_copy(const std::string& directory, const std::string& id, char** found) {
  if (directory.empty()) return -1;
  return open_debug_file_of(directory + "/" + id + ".debug", id, true, found);
}

int open_build_id_debug_file(const std::string& id, char** found) {
  if (id.size() < 4) return -1;
  return open_debug_file_of("/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug", id, false,
                            found);
}

int decompressed_debug_file(int fd, const std::string& id, const std::string& directory, char** found) {
  const ElfCalls* calls = elf_calls();
  if (fd < 0 || directory.empty() || id.empty() || calls == nullptr || !has_compressed_sections(fd)) return fd;
  const std::string path = directory + "/" + id + ".debug";
  if (!make_directories(directory) || !write_copy(*calls, fd, directory, path)) return fd;
  const int copy = open_decompressed_copy(directory, id, found);
  if (copy < 0) {  // fd was not that build-id's file
    unlink(path.c_str());
    return fd;
  }
  close(fd);
  return copy;
}

}  // namespace memf
