#include "report_server.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config.hpp"
#include "exit_check.hpp"
#include "heap_profile.hpp"
#include "init_order.hpp"
#include "os.hpp"
#include "profile_timeline.hpp"
#include "profile_writer.hpp"
#include "report_file.hpp"
#include "stats_report.hpp"
#include "symbolizer.hpp"
#include "tracker.hpp"

namespace memf {

namespace {

constinit std::atomic<bool> g_started{false};
constinit int g_listen_fd = -1;
constinit pid_t g_owner_pid = 0;
constinit char g_socket_path[108] = {};

// /tmp/memf-<uid>, made if missing; usable only when it is a directory of ours with mode 0700.
bool prepare_directory(std::string* dir) {
  *dir = "/tmp/memf-" + std::to_string(geteuid());
  if (mkdir(dir->c_str(), 0700) != 0 && errno != EEXIST) {
    report_warning("cannot create " + *dir + " for memf-report dump: " + strerror(errno));
    return false;
  }
  struct stat st;
  if (lstat(dir->c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    report_warning(*dir + " is not a directory of this user's closed to others; memf-report dump is off");
    return false;
  }
  return true;
}

bool open_socket() {
  std::string dir;
  if (!prepare_directory(&dir)) return false;
  const std::string path = dir + "/" + std::to_string(getpid()) + ".sock";
  if (path.size() >= sizeof(g_socket_path)) return false;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, path.c_str(), path.size() + 1);
  unlink(path.c_str());  // a socket left by an earlier process of this pid
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, 4) != 0) {
    report_warning("cannot listen on " + path + " for memf-report dump: " + strerror(errno));
    close(fd);
    return false;
  }
  memcpy(g_socket_path, path.c_str(), path.size() + 1);
  g_listen_fd = fd;
  g_owner_pid = getpid();
  return true;
}

void remove_socket_at_exit() {
  if (g_listen_fd >= 0 && g_owner_pid == getpid()) unlink(g_socket_path);
}

// One connection: the peer must be this user (or root); one request line, one answer.
void serve(int client) {
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || (peer.uid != geteuid() && peer.uid != 0)) return;
  timeval timeout{2, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  char line[64];
  size_t used = 0;
  while (used < sizeof line - 1) {
    const ssize_t n = read(client, line + used, 1);
    if (n <= 0 || line[used] == '\n') break;
    ++used;
  }
  line[used] = 0;
  if (strcmp(line, "stats") == 0) {
    write_engine_stats(client);
    return;
  }
  std::string answer;
  {
    InternalAllocations internal;
    answer = report_server_answer(line);
  }
  write_text(client, answer);
}

// The profile is written symbolized at exit: in exact mode, which records libc's own
// allocations (stdio buffers, strdup, ...) with their stacks, libc's and the program's debug
// information is read by this thread, while the program runs, instead of then. Not in sampled
// mode: its few stacks rarely reach into libc (whose code has no frame pointers), and reading
// libc's debug information there only cost time and 17 MiB. Its own thread, so that the
// service's timeline ticks go on meanwhile.
void* warm_up_main(void*) {
  InternalAllocations internal;
  symbolizer_warm_up();
  return nullptr;
}

void* service_main(void*) {
  for (;;) {
    const uint64_t interval = timeline_started() ? timeline_interval_ns() : 0;
    const int timeout_ms = interval ? int(interval / 1000000 > 0 ? interval / 1000000 : 1) : -1;
    if (g_listen_fd >= 0) {
      pollfd waiting{g_listen_fd, POLLIN, 0};
      const int ready = poll(&waiting, 1, timeout_ms);
      if (ready > 0 && (waiting.revents & POLLIN)) {
        const int client = accept4(g_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          serve(client);
          close(client);
        }
      }
    } else if (timeout_ms > 0) {
      const timespec pause{timeout_ms / 1000, long(timeout_ms % 1000) * 1000000L};
      nanosleep(&pause, nullptr);
    } else {
      return nullptr;
    }
    timeline_tick(false);
  }
}

__attribute__((constructor(MEMF_INIT_REPORT_SERVER))) void arm_report_server() {
  if (config().dump || heap_profile_mode() != ProfileMode::kOff) report_server_start(config().dump);
  if (heap_profile_mode() == ProfileMode::kExact) {
    // What starting it allocates (the thread's TLS vector) is memf's, not the program's.
    InternalAllocations internal;
    pthread_t thread;
    os::start_thread(&thread, warm_up_main, true);
  }
}

}  // namespace

std::string report_server_answer(const std::string& request) {
  if (request == "profile") {
    if (heap_profile_mode() == ProfileMode::kOff)
      return "{\"error\": \"the heap profile is off in this process (MEMF_PROFILE)\"}\n";
    return heap_profile_json("dump");
  }
  if (request == "leaks") {
    std::string json = leak_report_json_now();
    return json.empty() ? std::string("{\"error\": \"the leak scan could not run\"}\n") : json;
  }
  return "{\"error\": \"unknown request; ask for profile, leaks or stats\"}\n";
}

std::string report_server_socket_path(long pid) {
  return "/tmp/memf-" + std::to_string(geteuid()) + "/" + std::to_string(pid) + ".sock";
}

bool report_server_start(bool listen_for_dumps) {
  bool expected = false;
  if (!g_started.compare_exchange_strong(expected, true)) return false;
  if (listen_for_dumps && open_socket()) atexit(remove_socket_at_exit);
  if (g_listen_fd < 0 && !timeline_started()) return false;
  pthread_t thread;
  const int rc = os::start_thread(&thread, service_main, true);
  return rc == 0;
}

}  // namespace memf
