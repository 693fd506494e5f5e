#include "page_reporting.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "proc_files.hpp"

namespace memf {

namespace {
constexpr unsigned kVirtioDevicesScanned = 64;
constexpr unsigned kBalloonReportingBit = 5;  // VIRTIO_BALLOON_F_REPORTING

// 0: not read yet; 1: reporting; 2: not.
constinit std::atomic<uint8_t> g_reporting{0};
}  // namespace

bool free_page_reporting_in(const char* root) {
  char path[600];
  char text[160];
  for (unsigned n = 0; n < kVirtioDevicesScanned; ++n) {
    char device[64];
    snprintf(device, sizeof device, "/sys/bus/virtio/devices/virtio%u/", n);
    if (!join_path(path, sizeof path, root, device, "device") || read_small_file(path, text, sizeof text) <= 0) continue;
    if (strncmp(text, "0x0005", 6) != 0) continue;
    // One character per feature bit, bit 0 first: "0110010100...".
    if (!join_path(path, sizeof path, root, device, "features")) continue;
    const long length = read_small_file(path, text, sizeof text);
    if (length > long(kBalloonReportingBit) && text[kBalloonReportingBit] == '1') return true;
  }
  return false;
}

bool free_page_reporting() {
  uint8_t known = g_reporting.load(std::memory_order_relaxed);
  if (known == 0) {
    const int saved = errno;
    known = free_page_reporting_in("/") ? 1 : 2;
    errno = saved;
    g_reporting.store(known, std::memory_order_relaxed);
  }
  return known == 1;
}

}  // namespace memf
