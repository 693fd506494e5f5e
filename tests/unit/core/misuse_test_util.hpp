// Helpers for tests of misuse reports (core/misuse.hpp) and of whoever reports through them:
// MEMF_ON_ERROR from a test, what a call writes on stderr, and whether a call aborts. Only base/.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "config.hpp"
#include "stderr_stream.hpp"

namespace misuse_test {

// Sets MEMF_ON_ERROR through the one parser, after the environment has been read.
inline void set_on_error(const char* value) {
  memf::load_config();
  std::string assignment = std::string("MEMF_ON_ERROR=") + value;
  const char* env[] = {assignment.c_str(), nullptr};
  memf::parse_config(memf::g_config, env, false, nullptr, nullptr);
}

// What fn writes to file descriptor 2.
template <class Fn>
std::string stderr_of(Fn&& fn) {
  std::FILE* capture = std::tmpfile();
  const int saved = dup(2);
  dup2(fileno(capture), 2);
  memf::stderr_stream_record(false);  // memf writes to the stream fd 2 is when recorded
  fn();
  dup2(saved, 2);
  close(saved);
  memf::stderr_stream_record(false);
  std::string text;
  std::rewind(capture);
  for (int c; (c = std::fgetc(capture)) != EOF;) text += char(c);
  std::fclose(capture);
  return text;
}

// Runs fn in a child with MEMF_ON_ERROR=abort; its stderr and whether it died of SIGABRT.
template <class Fn>
bool aborts_in_child(Fn&& fn, std::string* err) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    memf::stderr_stream_record(false);
    close(fds[0]);
    std::signal(SIGABRT, SIG_DFL);  // the test framework's handler would report a failure
    set_on_error("abort");
    fn();
    _exit(0);
  }
  close(fds[1]);
  char buffer[512];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) > 0;) err->append(buffer, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

}  // namespace misuse_test
