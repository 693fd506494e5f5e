#include <catch2/catch.hpp>

#include "base/fake_root.hpp"
#include "page_reporting.hpp"

using namespace memf;
using fake_root::FakeRoot;

namespace {
// Feature bits as sysfs prints them: one character per bit, bit 0 first, 64 bits.
std::string features(std::initializer_list<unsigned> bits) {
  std::string text(64, '0');
  for (unsigned bit : bits) text[bit] = '1';
  return text + "\n";
}
void device(const FakeRoot& root, unsigned n, const char* id, const std::string& feature_text) {
  const std::string dir = "/sys/bus/virtio/devices/virtio" + std::to_string(n);
  root.write(dir + "/device", std::string(id) + "\n");
  root.write(dir + "/features", feature_text);
}
}  // namespace

TEST_CASE("free page reporting is a balloon device with feature bit 5") {
  FakeRoot root;
  SECTION("no virtio devices") { REQUIRE_FALSE(free_page_reporting_in(root.dir.c_str())); }
  SECTION("a balloon without reporting (statistics and deflate-on-OOM only)") {
    device(root, 0, "0x0005", features({1, 2, 32}));
    REQUIRE_FALSE(free_page_reporting_in(root.dir.c_str()));
  }
  SECTION("another device with bit 5 set is not a balloon") {
    device(root, 0, "0x0002", features({5, 32}));
    device(root, 1, "0x0001", features({0, 5}));
    REQUIRE_FALSE(free_page_reporting_in(root.dir.c_str()));
  }
  SECTION("a reporting balloon after other devices") {
    device(root, 0, "0x0002", features({5, 32}));
    device(root, 1, "0x0005", features({1, 2, 5, 7, 32}));
    REQUIRE(free_page_reporting_in(root.dir.c_str()));
  }
  SECTION("device numbers need not be contiguous") {
    device(root, 7, "0x0005", features({5}));
    REQUIRE(free_page_reporting_in(root.dir.c_str()));
  }
  SECTION("a features file too short to hold bit 5") {
    device(root, 0, "0x0005", "0110\n");
    REQUIRE_FALSE(free_page_reporting_in(root.dir.c_str()));
  }
  SECTION("a balloon without its features file") {
    root.write("/sys/bus/virtio/devices/virtio0/device", "0x0005\n");
    REQUIRE_FALSE(free_page_reporting_in(root.dir.c_str()));
  }
}

TEST_CASE("the process's answer is the root file system's, read once") {
  const bool first = free_page_reporting();
  REQUIRE(first == free_page_reporting_in("/"));
  REQUIRE(free_page_reporting() == first);
}
