// track/debug_cache: where the decompressed copies of debug files go, and the copies themselves,
// made from the split fixture's debug file compressed as Debian compresses its own.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "config.hpp"
#include "debug_cache.hpp"

using namespace memf;

namespace {

std::string temporary_directory() {
  char pattern[] = "/tmp/memf-debug-cache.XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  return pattern;
}

int open_file(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

bool exists(const std::string& path) {
  struct stat status;
  return stat(path.c_str(), &status) == 0;
}

// The files in directory, by name.
std::string listing(const std::string& directory) {
  std::string names;
  const std::string command = "ls -A " + directory;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char line[512];
  while (fgets(line, sizeof line, pipe)) names += line;
  pclose(pipe);
  return names;
}

struct Found {
  char* path = nullptr;
  ~Found() { free(path); }
};

}  // namespace

TEST_CASE("the copies' directory: MEMF_DEBUG_CACHE's, XDG_CACHE_HOME's, HOME's; none when off or secure") {
  const std::string xdg = temporary_directory(), home = temporary_directory();
  const uid_t me = geteuid();
  Config config = default_config();
  CHECK(debug_cache_directory(config, xdg.c_str(), home.c_str(), me) == xdg + "/memf/debug");
  CHECK(debug_cache_directory(config, nullptr, home.c_str(), me) == home + "/.cache/memf/debug");
  CHECK(debug_cache_directory(config, "relative", home.c_str(), me) == home + "/.cache/memf/debug");
  CHECK(debug_cache_directory(config, "", "", me) == "");
  CHECK(debug_cache_directory(config, nullptr, "not/absolute", me) == "");
  CHECK(debug_cache_directory(config, nullptr, "/no/such/home", me) == "");
  // Another user's directories (root's HOME under sudo, say): no default place in them.
  CHECK(debug_cache_directory(config, xdg.c_str(), home.c_str(), me + 1) == "");
  CHECK(debug_cache_directory(config, nullptr, home.c_str(), me + 1) == "");
  strcpy(config.debug_cache, "/var/tmp/d");
  CHECK(debug_cache_directory(config, xdg.c_str(), home.c_str(), me) == "/var/tmp/d");
  config.debug_cache_off = true;
  CHECK(debug_cache_directory(config, xdg.c_str(), home.c_str(), me) == "");
  config.debug_cache_off = false;
  config.secure = true;
  CHECK(debug_cache_directory(config, xdg.c_str(), home.c_str(), me) == "");
  rmdir(xdg.c_str());
  rmdir(home.c_str());
}

TEST_CASE("build-ids in hex") {
  const unsigned char id[] = {0x00, 0x9f, 0xa0, 0xff};
  CHECK(build_id_hex(id, sizeof id) == "009fa0ff");
  CHECK(build_id_hex(id, 0) == "");
}

TEST_CASE("a compressed debug file's copy: made once, decompressed, same build-id; reused after") {
  const int plain = open_file(MEMF_TEST_SPLIT_DEBUG_FILE);
  const std::string id = debug_file_build_id(plain);
  REQUIRE(id.size() == 40);  // GNU ld's default SHA-1 build-id
  CHECK_FALSE(has_compressed_sections(plain));
  close(plain);

  const std::string directory = temporary_directory() + "/made/on/demand";
  const int compressed = open_file(MEMF_TEST_SPLIT_ZLIB_DEBUG_FILE);
  REQUIRE(has_compressed_sections(compressed));
  REQUIRE(debug_file_build_id(compressed) == id);
  Found found;
  found.path = strdup(MEMF_TEST_SPLIT_ZLIB_DEBUG_FILE);
  const int copy = decompressed_debug_file(compressed, id, directory, &found.path);
  const std::string path = directory + "/" + id + ".debug";
  REQUIRE(copy >= 0);
  CHECK(copy != compressed);
  CHECK(fcntl(compressed, F_GETFD) == -1);  // closed: the copy replaces it
  CHECK(std::string(found.path) == path);
  CHECK_FALSE(has_compressed_sections(copy));
  CHECK(debug_file_build_id(copy) == id);
  CHECK(listing(directory) == id + ".debug\n");  // no temporary file left
  struct stat made;
  REQUIRE(fstat(copy, &made) == 0);
  // The decompressed DWARF is larger than the compressed file.
  struct stat original;
  REQUIRE(stat(MEMF_TEST_SPLIT_ZLIB_DEBUG_FILE, &original) == 0);
  CHECK(made.st_size > original.st_size);
  close(copy);

  // The next process finds it: the same file, not written again.
  Found again;
  const int reused = open_decompressed_copy(directory, id, &again.path);
  REQUIRE(reused >= 0);
  CHECK(std::string(again.path) == path);
  struct stat now;
  REQUIRE(fstat(reused, &now) == 0);
  CHECK(now.st_ino == made.st_ino);
  CHECK(now.st_mtim.tv_nsec == made.st_mtim.tv_nsec);
  close(reused);
  std::system(("rm -rf " + directory.substr(0, directory.size() - strlen("/made/on/demand"))).c_str());
}

TEST_CASE("a damaged or foreign copy is not used, and is replaced") {
  const std::string directory = temporary_directory();
  const int plain = open_file(MEMF_TEST_SPLIT_DEBUG_FILE);
  const std::string id = debug_file_build_id(plain);
  close(plain);
  const std::string path = directory + "/" + id + ".debug";

  // Half a file (as a full disk could leave one, were the copy not written under another name).
  REQUIRE(std::system(("head -c 3000 " MEMF_TEST_SPLIT_DEBUG_FILE " > " + path).c_str()) == 0);
  Found found;
  CHECK(open_decompressed_copy(directory, id, &found.path) == -1);
  CHECK(found.path == nullptr);
  // Still compressed: a copy of the compressed file itself under the build-id's name.
  REQUIRE(std::system(("cp " MEMF_TEST_SPLIT_ZLIB_DEBUG_FILE " " + path).c_str()) == 0);
  CHECK(open_decompressed_copy(directory, id, &found.path) == -1);
  // Another build-id's file under this name.
  CHECK(open_decompressed_copy(directory, std::string(40, '0'), &found.path) == -1);
  // A good copy that another user owns (a directory both can write to).
  REQUIRE(std::system(("cp " MEMF_TEST_SPLIT_DEBUG_FILE " " + path).c_str()) == 0);
  {
    Found good;
    const int fd = open_decompressed_copy(directory, id, &good.path);
    CHECK(fd >= 0);
    close(fd);
  }
  if (geteuid() == 0) {
    REQUIRE(chown(path.c_str(), 65534, 65534) == 0);
    CHECK(open_decompressed_copy(directory, id, &found.path) == -1);
  } else {
    WARN("SKIP: a copy owned by another user needs root to make (chown)");
  }

  const int compressed = open_file(MEMF_TEST_SPLIT_ZLIB_DEBUG_FILE);
  const int copy = decompressed_debug_file(compressed, id, directory, &found.path);
  REQUIRE(copy >= 0);
  CHECK(copy != compressed);
  CHECK_FALSE(has_compressed_sections(copy));
  close(copy);
  Found again;
  const int reused = open_decompressed_copy(directory, id, &again.path);
  CHECK(reused >= 0);
  close(reused);
  std::system(("rm -rf " + directory).c_str());
}

TEST_CASE("no copy: an uncompressed file, no directory, an unwritable one, a build-id that is not the file's") {
  const std::string directory = temporary_directory();
  const int plain = open_file(MEMF_TEST_SPLIT_DEBUG_FILE);
  const std::string id = debug_file_build_id(plain);
  Found found;
  CHECK(decompressed_debug_file(plain, id, directory, &found.path) == plain);
  CHECK(found.path == nullptr);
  close(plain);

  const int compressed = open_file(MEMF_TEST_SPLIT_ZLIB_DEBUG_FILE);
  CHECK(decompressed_debug_file(compressed, id, "", &found.path) == compressed);
  CHECK(decompressed_debug_file(compressed, id, "/proc/memf-not-a-directory", &found.path) == compressed);
  const std::string other(40, 'a');
  CHECK(decompressed_debug_file(compressed, other, directory, &found.path) == compressed);
  CHECK(found.path == nullptr);
  CHECK(listing(directory).empty());  // the mismatched copy was removed
  CHECK(fcntl(compressed, F_GETFD) != -1);
  close(compressed);
  CHECK(decompressed_debug_file(-1, id, directory, &found.path) == -1);
  std::system(("rm -rf " + directory).c_str());
}

TEST_CASE("Debian's build-id path is taken only for the build-id it names") {
  Found found;
  CHECK(open_build_id_debug_file(std::string(40, '0'), &found.path) == -1);
  CHECK(open_build_id_debug_file("ab", &found.path) == -1);
  CHECK(found.path == nullptr);
  // libc's, when libc6-dbg is installed (tools/setup.sh installs it).
  const int libc = open_file("/lib/x86_64-linux-gnu/libc.so.6");
  const std::string id = debug_file_build_id(libc);
  close(libc);
  REQUIRE(id.size() > 4);
  const std::string path = "/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
  INFO("libc's debug file " << path << " (Debian: libc6-dbg, which tools/setup.sh installs)");
  REQUIRE(exists(path));
  const int fd = open_build_id_debug_file(id, &found.path);
  REQUIRE(fd >= 0);
  CHECK(std::string(found.path) == path);
  CHECK(debug_file_build_id(fd) == id);
  close(fd);
}

TEST_CASE("a link planted where the copy is first written is not followed") {
  const std::string directory = temporary_directory();
  const int plain = open_file(MEMF_TEST_SPLIT_DEBUG_FILE);
  const std::string id = debug_file_build_id(plain);
  close(plain);
  const std::string victim = directory + "/victim";
  REQUIRE(std::system(("echo untouched > " + victim).c_str()) == 0);
  const std::string temporary = directory + "/" + id + ".debug.tmp." + std::to_string(getpid());
  REQUIRE(symlink(victim.c_str(), temporary.c_str()) == 0);
  const int compressed = open_file(MEMF_TEST_SPLIT_ZLIB_DEBUG_FILE);
  Found found;
  const int copy = decompressed_debug_file(compressed, id, directory, &found.path);
  REQUIRE(copy >= 0);
  CHECK(copy != compressed);
  close(copy);
  FILE* read_back = fopen(victim.c_str(), "r");
  REQUIRE(read_back != nullptr);
  char line[32] = {};
  CHECK(fgets(line, sizeof line, read_back) != nullptr);
  fclose(read_back);
  CHECK(std::string(line) == "untouched\n");
  CHECK(listing(directory) == id + ".debug\nvictim\n");
  std::system(("rm -rf " + directory).c_str());
}
