// Whether the hypervisor takes back the guest's free memory (virtio-balloon free page reporting,
// as Firecracker and QEMU offer it): the kernel reports free blocks of pageblock order (2 MiB on
// x86-64) and larger, and the host discards them. Those are exactly the blocks a transparent huge
// page is made of, so with reporting on, a fresh huge page is almost always memory the host no
// longer backs, and its first touch waits for the host's faults, where 4 KiB faults measured the
// same after an idle pause as back to back (design.md, "Large blocks"). Read without allocating;
// the root ("/" normally) lets tests point it at a fake tree.
#pragma once

namespace memf {

// A virtio balloon device (device id 0x0005) under root/sys/bus/virtio/devices/virtio<N> (N from
// 0 to 63) whose negotiated features have bit 5 (VIRTIO_BALLOON_F_REPORTING) set.
bool free_page_reporting_in(const char* root);
// free_page_reporting_in("/"), read once per process.
bool free_page_reporting();

}  // namespace memf
