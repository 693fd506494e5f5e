// The stream memf writes its diagnostics to: the file that was the process's stderr when memf
// started, and nothing else. A program may close fd 2 and open a file that then gets number 2
// (memf must not write into the program's data), or close stderr in its exit handlers (coreutils'
// close_stdout does) before memf's exit-time report.
#pragma once

namespace memf {

// Records which file fd 2 is now. With keep_copy (something will be written at exit: the leak
// report, MEMF_STATS) also takes a copy of it, close-on-exec and numbered 1000 or above, so that
// the report still reaches it after the program closed fd 2. A forked child drops the copy (a
// daemon that forks and closes its descriptors must not keep the caller's pipe open through it)
// and writes to its fd 2 as it finds it.
void stderr_stream_record(bool keep_copy);

// Where diagnostics go: 2 while it is still the file recorded, else the copy while that is, else
// -1 (nowhere). 2 when nothing was recorded.
int stderr_stream_fd();

// Closes the copy (a forked child; tests).
void stderr_stream_drop_copy();

}  // namespace memf
