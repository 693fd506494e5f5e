// base/proc_files: the small /proc files the pressure monitor reads (meminfo, PSI, statm),
// parsed without allocating, from a fake root.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "base/fake_root.hpp"
#include "proc_files.hpp"

using namespace memf;
using fake_root::FakeRoot;

TEST_CASE("meminfo and PSI files are parsed") {
  FakeRoot root;
  root.write("/proc/meminfo", "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n");
  root.write("/proc/pressure/memory",
             "some avg10=12.50 avg60=1.00 avg300=0.00 total=123\nfull avg10=3.00 avg60=0.00 avg300=0.00 total=45\n");
  uint64_t total = 0, available = 0;
  REQUIRE(read_meminfo(root.dir.c_str(), &total, &available));
  REQUIRE(total == 1000 * 1024);
  REQUIRE(available == 250 * 1024);
  PsiSample psi;
  REQUIRE(read_psi((root.dir + "/proc/pressure/memory").c_str(), &psi));
  REQUIRE(psi.some_avg10 == Approx(0.125));
  REQUIRE(psi.full_avg10 == Approx(0.03));
  REQUIRE(psi.some_total_us == 123);
  REQUIRE(psi.full_total_us == 45);
}

TEST_CASE("meminfo without MemAvailable, and PSI without a some line, are not readings") {
  FakeRoot root;
  root.write("/proc/meminfo", "MemTotal:       1000 kB\nMemFree:         100 kB\n");
  root.write("/proc/pressure/memory", "full avg10=3.00 avg60=0.00 avg300=0.00 total=45\n");
  uint64_t total = 7, available = 7;
  REQUIRE_FALSE(read_meminfo(root.dir.c_str(), &total, &available));
  REQUIRE(total == 7);  // outputs untouched
  REQUIRE(available == 7);
  PsiSample psi;
  REQUIRE_FALSE(read_psi((root.dir + "/proc/pressure/memory").c_str(), &psi));
  REQUIRE_FALSE(read_psi((root.dir + "/no/such/file").c_str(), &psi));
  FakeRoot empty;
  REQUIRE_FALSE(read_meminfo(empty.dir.c_str(), &total, &available));
}

TEST_CASE("join_path adds nothing for the root \"/\" and refuses what does not fit") {
  char out[16];
  REQUIRE(join_path(out, sizeof out, "/", "/proc/meminfo"));
  REQUIRE(std::string(out) == "/proc/meminfo");
  REQUIRE(join_path(out, sizeof out, "/r", "/a", "/b"));
  REQUIRE(std::string(out) == "/r/a/b");
  REQUIRE_FALSE(join_path(out, sizeof out, "/root", "/proc/meminfo"));  // 18 bytes: cut, refused
  REQUIRE(join_path(out, sizeof out, "/root", "/proc/memi"));          // 15 bytes and the NUL: fits
  REQUIRE_FALSE(join_path(out, sizeof out, "/root", "/proc/memin"));    // 16 bytes: no room for the NUL
}

TEST_CASE("read_small_file cuts at capacity - 1 and terminates; resident_bytes reads statm") {
  FakeRoot root;
  root.write("/f", "0123456789");
  char buf[6];
  std::memset(buf, 'x', sizeof buf);
  REQUIRE(read_small_file((root.dir + "/f").c_str(), buf, sizeof buf) == 5);
  REQUIRE(std::string(buf) == "01234");
  char whole[64];
  REQUIRE(read_small_file((root.dir + "/f").c_str(), whole, sizeof whole) == 10);
  REQUIRE(std::string(whole) == "0123456789");
  REQUIRE(read_small_file((root.dir + "/missing").c_str(), whole, sizeof whole) == -1);
  REQUIRE(read_small_file((root.dir + "/f").c_str(), whole, 0) == -1);
  // This process has resident pages; a page-sized multiple.
  const uint64_t resident = resident_bytes();
  REQUIRE(resident > 0);
  REQUIRE(resident % 4096 == 0);
}
