#include "monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "accounting.hpp"
#include "cgroup.hpp"
#include "compiler.hpp"
#include "config.hpp"
#include "fork.hpp"
#include "init_order.hpp"
#include "optimizer.hpp"
#include "os.hpp"
#include "proc_files.hpp"
#include "profile_timeline.hpp"
#include "release.hpp"
#include "sources.hpp"
#include "tracker.hpp"

// Paths longer than the buffers are cut and then simply fail to open.
#pragma GCC diagnostic ignored "-Wformat-truncation"

namespace memf {

// ---------------------------------------------------------------------------------------------
// The monitor

namespace {

constexpr unsigned kMaxSubscriptions = 64;

struct Subscription {
  void (*fn)(int, void*);
  void* ctx;
  int id;  // 0 = free slot
};

// Everything below is guarded by g_lock unless it is atomic. The cgroup record and PSI history
// belong to whoever evaluates, which holds g_eval_lock (the monitor, or a start-up evaluation).
constinit pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
constinit pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
constinit pthread_mutex_t g_eval_lock = PTHREAD_MUTEX_INITIALIZER;
constinit Subscription g_subs[kMaxSubscriptions] = {};
constinit int g_next_id = 1;
constinit int g_inflight_id = 0;       // subscription whose callback runs now
constinit PressureStatus g_status = {};
constinit LevelThresholds g_thresholds = {};
constinit char g_root[400] = "/";
constinit bool g_root_changed = true;
constinit unsigned g_interval_ms = 100;
constinit uint64_t g_poke_requested = 0;
constinit uint64_t g_evals_done = 0;

constinit std::atomic<int> g_level{kPressureNone};

// The heap profile's timeline marks each level change (profile_timeline.hpp; a no-op without it).
void mark_level_on_timeline(int level, uint64_t limit) {
  static const char* const kNames[] = {"none", "moderate", "critical"};
  char detail[96];
  snprintf(detail, sizeof detail, "level %s (limit %.1f MiB)", kNames[level >= 0 && level <= 2 ? level : 0],
           double(limit) / 1048576.0);
  timeline_event("pressure", detail);
}
constinit std::atomic<bool> g_running{false};
constinit std::atomic<pid_t> g_running_pid{0};
constinit std::atomic<bool> g_stop{false};
constinit std::atomic<int> g_wake_fd{-1};
constinit std::atomic<bool> g_wake_pending{false};
constinit std::atomic<uint64_t> g_wakeups{0};
constinit pthread_t g_thread = {};
constinit bool g_handlers_registered = false;
__thread bool t_is_monitor MEMF_TLS = false;

// Evaluation state (g_eval_lock).
constinit CgroupInfo g_cgroup = {};
constinit bool g_cgroup_tried = false;
constinit int g_frac_level = kPressureNone;
constinit int g_psi_level = kPressureNone;
constinit uint64_t g_psi_last_some = 0, g_psi_last_full = 0, g_psi_last_ns = 0;
constinit int g_psi_fd = -1;
constinit bool g_psi_trigger = false;

struct Evaluation {
  int level;
  int binding;           // source with the largest fraction
  uint64_t binding_limit, binding_usage;
  bool resident;         // the binding source is measured in resident memory
  uint64_t own_usage;
};

// Reads every source, moves the level, arms the watermark and the synchronous point.
Evaluation evaluate() {
  pthread_mutex_lock(&g_lock);
  const LevelThresholds t = g_thresholds;
  char root[400];
  snprintf(root, sizeof root, "%s", g_root);
  const bool rediscover = g_root_changed;
  g_root_changed = false;
  pthread_mutex_unlock(&g_lock);

  if (rediscover || !g_cgroup_tried) {
    discover_cgroup(root, &g_cgroup);
    g_cgroup_tried = true;
    g_psi_last_ns = 0;  // the PSI file may be another one now: no delta against the old one
  } else if (g_cgroup.version) {
    refresh_cgroup(&g_cgroup);
  }
  uint64_t phys_total = 0, phys_avail = 0;
  const bool have_phys = read_meminfo(root, &phys_total, &phys_avail) && phys_total > 0;
  const uint64_t own_limit = memory_limit();
  const uint64_t own_usage = running_total_bytes();

  struct Source {
    int kind;
    uint64_t limit, usage;
  } sources[3];
  int count = 0;
  if (own_limit) sources[count++] = {kSourceOwn, own_limit, own_usage};
  if (g_cgroup.version && g_cgroup.limit) sources[count++] = {kSourceCgroup, g_cgroup.limit, g_cgroup.usage};
  if (have_phys) sources[count++] = {kSourcePhysical, phys_total, phys_total - phys_avail};

  Evaluation ev{};
  ev.own_usage = own_usage;
  double fraction = 0;
  uint64_t effective = 0;
  for (int i = 0; i < count; ++i) {
    const double f = double(sources[i].usage) / double(sources[i].limit);
    if (ev.binding == kSourceNone || f > fraction) {
      fraction = f;
      ev.binding = sources[i].kind;
      ev.binding_limit = sources[i].limit;
      ev.binding_usage = sources[i].usage;
    }
    if (!effective || sources[i].limit < effective) effective = sources[i].limit;
  }
  ev.resident = ev.binding != kSourceOwn;

  // PSI: the stall share since the last evaluation, or avg10 when higher. A v2 cgroup has its
  // own (the stalls of its tasks, which is what matters inside a container); else the system's.
  char psi_path[600];
  PsiSample psi;
  bool have_psi = false;
  if (g_cgroup.version == 2 && join_path(psi_path, sizeof psi_path, g_cgroup.path, "/memory.pressure"))
    have_psi = read_psi(psi_path, &psi);
  if (!have_psi && join_path(psi_path, sizeof psi_path, root, "/proc/pressure/memory")) have_psi = read_psi(psi_path, &psi);
  double some = 0, full = 0;
  if (have_psi) {
    const uint64_t now = os::monotonic_ns();
    if (g_psi_last_ns && now > g_psi_last_ns && psi.some_total_us >= g_psi_last_some) {
      const double wall_us = double(now - g_psi_last_ns) / 1000.0;
      some = double(psi.some_total_us - g_psi_last_some) / wall_us;
      full = double(psi.full_total_us - g_psi_last_full) / wall_us;
    }
    if (psi.some_avg10 > some) some = psi.some_avg10;
    if (psi.full_avg10 > full) full = psi.full_avg10;
    g_psi_last_some = psi.some_total_us;
    g_psi_last_full = psi.full_total_us;
    g_psi_last_ns = now;
  }
  g_frac_level = next_level(g_frac_level, fraction, t);
  g_psi_level = next_psi_level(g_psi_level, some, full, t);
  ev.level = g_frac_level > g_psi_level ? g_frac_level : g_psi_level;

  // Watermark: memf's live bytes at which the nearest source reaches the next level's start
  // (each source's headroom is added to memf's current total: what memf hands out next is what
  // the sources see grow). At critical, every further step of growth wakes the monitor again.
  const uint64_t step = effective ? (effective / 64 > (1u << 20) ? effective / 64 : (1u << 20)) : (1u << 20);
  const double next_start = ev.level == kPressureNone ? t.moderate : ev.level == kPressureModerate ? t.critical : 0;
  // From the critical level on, allocations free memory themselves (the monitor may be too slow
  // for a program that allocates a limit's worth in milliseconds).
  const double sync_start = t.critical;
  // A resident source grows faster than memf's live bytes (metadata, fragmentation, memory memf
  // does not allocate), so a point one headroom ahead may already be past its limit: for those,
  // look again halfway, and from there halfway again (a few file reads per halving).
  auto room_to = [&](double start, const auto& source) -> uint64_t {
    const double room = start * double(source.limit) - double(source.usage);
    const double ahead = source.kind == kSourceOwn ? room : room / 2;
    return ahead > double(step) ? uint64_t(ahead) : step;
  };
  uint64_t headroom = UINT64_MAX, sync_headroom = UINT64_MAX, sync_wanted = 0;
  for (int i = 0; i < count; ++i) {
    if (next_start > 0) {
      const uint64_t r = room_to(next_start, sources[i]);
      if (r < headroom) headroom = r;
    }
    if (sources[i].kind != kSourceOwn) {  // memf's own limit is the hard limit itself
      const uint64_t r = room_to(sync_start, sources[i]);
      if (r < sync_headroom) {
        sync_headroom = r;
        sync_wanted = uint64_t((sync_start - (t.moderate - t.hysteresis)) * double(sources[i].limit));
      }
    }
  }
  if (next_start == 0 || count == 0) headroom = step;
  const uint64_t watermark = count == 0 ? UINT64_MAX : own_usage + headroom;
  const uint64_t sync_point = sync_headroom == UINT64_MAX ? 0 : own_usage + sync_headroom;
  sources_publish(g_cgroup.limit ? g_cgroup.version : 0, g_cgroup.limit, g_cgroup.path, root, have_phys, sync_start);
  set_usage_watermark(watermark);
  optimizer_arm(own_limit, sync_point, sync_wanted);

  pthread_mutex_lock(&g_lock);
  PressureStatus& s = g_status;
  const int old_level = s.level;
  s.level = ev.level;
  s.limit_source = ev.binding;
  s.fraction = fraction;
  s.effective_limit = effective;
  s.own_limit = own_limit;
  s.own_usage = own_usage;
  s.cgroup_limit = g_cgroup.limit;
  s.cgroup_usage = g_cgroup.usage;
  s.cgroup_version = g_cgroup.version;
  s.physical_total = phys_total;
  s.physical_available = phys_avail;
  s.psi_some = some;
  s.psi_full = full;
  s.psi_trigger = g_psi_trigger;
  s.watermark = watermark;
  s.sync_point = sync_point;
  ++s.evaluations;
  s.wakeups = g_wakeups.load(std::memory_order_relaxed);
  if (old_level != ev.level) ++s.level_changes;
  pthread_mutex_unlock(&g_lock);
  g_level.store(ev.level, std::memory_order_release);
  if (old_level != ev.level) mark_level_on_timeline(ev.level, effective);
  ev.binding_limit = ev.binding_limit ? ev.binding_limit : 0;
  return ev;
}

// Calls every subscription with level, one at a time, without g_lock held during a callback.
void deliver(int level) {
  for (unsigned i = 0; i < kMaxSubscriptions; ++i) {
    pthread_mutex_lock(&g_lock);
    const Subscription sub = g_subs[i];
    if (sub.id == 0 || g_stop.load(std::memory_order_relaxed)) {
      pthread_mutex_unlock(&g_lock);
      continue;
    }
    g_inflight_id = sub.id;
    pthread_mutex_unlock(&g_lock);
    sub.fn(level, sub.ctx);
    pthread_mutex_lock(&g_lock);
    g_inflight_id = 0;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
  }
}

// What to free when the level is `level`: enough to fall below the level's end (the moderate
// start less the hysteresis) for the binding source; an eighth of memf's bytes when only PSI
// says there is pressure.
uint64_t wanted_bytes(const Evaluation& ev) {
  const LevelThresholds t = pressure_thresholds();
  if (ev.binding_limit) {
    const double goal = (t.moderate - t.hysteresis) * double(ev.binding_limit);
    if (double(ev.binding_usage) > goal) return uint64_t(double(ev.binding_usage) - goal);
  }
  return ev.own_usage / 8;
}

void open_psi_trigger(const char* root) {
  // The kernel refuses triggers on some systems (EINVAL without CONFIG_PSI triggers or for
  // unprivileged writers to the system-wide file): then the monitor polls.
  char path[600];
  join_path(path, sizeof path, root, "/proc/pressure/memory");
  const int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  static const char trigger[] = "some 100000 1000000";  // 100 ms of stall within 1 s
  if (write(fd, trigger, sizeof trigger) < 0) {
    close(fd);
    return;
  }
  g_psi_fd = fd;
  g_psi_trigger = true;
}

void* monitor_main(void*) {
  t_is_monitor = true;
  pthread_setname_np(pthread_self(), "memf-pressure");
  pthread_mutex_lock(&g_lock);
  char root[400];
  snprintf(root, sizeof root, "%s", g_root);
  pthread_mutex_unlock(&g_lock);
  pthread_mutex_lock(&g_eval_lock);
  open_psi_trigger(root);
  pthread_mutex_unlock(&g_eval_lock);
  int delivered = kPressureNone;
  for (;;) {
    pthread_mutex_lock(&g_lock);
    const unsigned interval = g_interval_ms;
    pthread_mutex_unlock(&g_lock);
    pollfd fds[2] = {{g_wake_fd.load(std::memory_order_relaxed), POLLIN, 0}, {g_psi_fd, POLLPRI, 0}};
    poll(fds, g_psi_fd >= 0 ? 2 : 1, int(interval));
    if (g_stop.load(std::memory_order_acquire)) break;
    uint64_t counter;
    if (fds[0].revents & POLLIN) (void)!read(fds[0].fd, &counter, sizeof counter);
    const bool grew = g_wake_pending.exchange(false, std::memory_order_acq_rel);
    pthread_mutex_lock(&g_lock);
    const uint64_t poke_target = g_poke_requested;
    pthread_mutex_unlock(&g_lock);

    pthread_mutex_lock(&g_eval_lock);
    const Evaluation ev = evaluate();
    pthread_mutex_unlock(&g_eval_lock);
    if (ev.level != delivered) {
      const bool rose = ev.level > delivered;
      delivered = ev.level;
      deliver(ev.level);
      if (rose && !g_stop.load(std::memory_order_relaxed))
        optimizer_run(kTriggerLevel, ev.level, wanted_bytes(ev), ev.resident);
    } else if (ev.level > kPressureNone && grew) {
      optimizer_run(kTriggerGrowth, ev.level, wanted_bytes(ev), ev.resident);
    }
    // Periodic decay: slabs empty for longer than the purge delay go back to the OS even when
    // the program stopped allocating (the engine checks only when a slab is released).
    engine_purge_expired();

    pthread_mutex_lock(&g_lock);
    if (g_evals_done < poke_target) g_evals_done = poke_target;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
  }
  return nullptr;
}

// Order: eval -> lock -> sources (evaluate holds eval while it takes the other two, one at a time).
void fork_prepare() {
  pthread_mutex_lock(&g_eval_lock);
  pthread_mutex_lock(&g_lock);
  sources_lock();
}
void fork_parent() {
  sources_unlock();
  pthread_mutex_unlock(&g_lock);
  pthread_mutex_unlock(&g_eval_lock);
}
// The child has no monitor: it starts again at the child's first use of the pressure API. The
// eventfd and the PSI trigger are the parent's: the child must not write or poll them.
void fork_child() {
  g_lock = PTHREAD_MUTEX_INITIALIZER;
  sources_reset_after_fork();
  g_eval_lock = PTHREAD_MUTEX_INITIALIZER;
  g_cond = PTHREAD_COND_INITIALIZER;
  const int fd = g_wake_fd.exchange(-1);
  if (fd >= 0) close(fd);
  if (g_psi_fd >= 0) close(g_psi_fd);
  g_psi_fd = -1;
  g_psi_trigger = false;
  g_inflight_id = 0;
  g_running.store(false);
  g_running_pid.store(0);
  g_stop.store(false);
  g_wake_pending.store(false);
}

void stop_at_exit() { pressure_stop_monitor(); }

// The watermark hook (engine/accounting.hpp), on the allocation path: one flag exchange, and one
// eventfd write per monitor round at most.
void wake_from_allocator(uint64_t) {
  if (g_wake_pending.exchange(true, std::memory_order_acq_rel)) return;
  g_wakeups.fetch_add(1, std::memory_order_relaxed);
  const int fd = g_wake_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
  }
}

// The allocation path's two hooks: the optimizer's admission, and this monitor's wake-up.
void install_hooks() {
  optimizer_install_hooks();
  set_watermark_hook(wake_from_allocator);
}

}  // namespace

void pressure_ensure_monitor() {
  const pid_t pid = getpid();
  if (g_running.load(std::memory_order_acquire) && g_running_pid.load(std::memory_order_relaxed) == pid) return;
  install_hooks();
  fork_register(kForkMonitor, {fork_prepare, fork_parent, fork_child});
  pthread_mutex_lock(&g_lock);
  if (!g_handlers_registered) {
    g_handlers_registered = true;
    atexit(stop_at_exit);
  }
  const bool start = !(g_running.load(std::memory_order_relaxed) && g_running_pid.load(std::memory_order_relaxed) == pid);
  if (start) {
    g_running.store(true, std::memory_order_relaxed);  // claims the start; undone on failure
    g_running_pid.store(pid, std::memory_order_relaxed);
    g_stop.store(false, std::memory_order_relaxed);
  }
  pthread_mutex_unlock(&g_lock);
  if (!start) return;
  // One evaluation before the thread exists, so the level is right from the first query.
  pthread_mutex_lock(&g_eval_lock);
  evaluate();
  pthread_mutex_unlock(&g_eval_lock);
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  g_wake_fd.store(fd, std::memory_order_release);
  const int rc = os::start_thread(&g_thread, monitor_main, false);
  if (rc != 0) {
    g_running.store(false);
    if (fd >= 0) close(g_wake_fd.exchange(-1));
  }
}

void pressure_stop_monitor() {
  if (!g_running.load(std::memory_order_acquire) || g_running_pid.load() != getpid()) return;
  pthread_mutex_lock(&g_lock);
  g_stop.store(true, std::memory_order_release);
  pthread_cond_broadcast(&g_cond);
  pthread_mutex_unlock(&g_lock);
  set_usage_watermark(UINT64_MAX);
  const int fd = g_wake_fd.load();
  if (fd >= 0) {
    const uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
  }
  if (!t_is_monitor) {
    // Bounded: a callback that never returns must not hang the program's exit.
    timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 2;
    if (pthread_timedjoin_np(g_thread, nullptr, &deadline) == 0) {
      close(g_wake_fd.exchange(-1));
      if (g_psi_fd >= 0) close(g_psi_fd);
      g_psi_fd = -1;
      g_psi_trigger = false;
      g_running.store(false, std::memory_order_release);
    }
  }
}

int pressure_level() {
  pressure_ensure_monitor();
  return g_level.load(std::memory_order_acquire);
}

PressureStatus pressure_status() {
  pressure_ensure_monitor();
  pthread_mutex_lock(&g_lock);
  PressureStatus s = g_status;
  pthread_mutex_unlock(&g_lock);
  s.wakeups = g_wakeups.load(std::memory_order_relaxed);
  return s;
}

void pressure_poke_and_wait() {
  pressure_ensure_monitor();
  if (t_is_monitor) return;
  pthread_mutex_lock(&g_lock);
  const uint64_t target = ++g_poke_requested;
  pthread_mutex_unlock(&g_lock);
  const int fd = g_wake_fd.load();
  if (fd >= 0) {
    const uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
  }
  timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&g_lock);
  while (g_evals_done < target && !g_stop.load()) {
    if (pthread_cond_timedwait(&g_cond, &g_lock, &deadline) == ETIMEDOUT) break;
  }
  pthread_mutex_unlock(&g_lock);
}

void pressure_limit_changed() {
  install_hooks();
  optimizer_arm(memory_limit(), UINT64_MAX);  // the monitor recomputes the synchronous point
  if (g_running.load(std::memory_order_acquire)) {
    const int fd = g_wake_fd.load();
    if (fd >= 0) {
      const uint64_t one = 1;
      (void)!write(fd, &one, sizeof one);
    }
  }
}

bool pressure_set_thresholds(const LevelThresholds& t) {
  if (!thresholds_valid(t)) return false;
  pthread_mutex_lock(&g_lock);
  g_thresholds = t;
  pthread_mutex_unlock(&g_lock);
  return true;
}

LevelThresholds pressure_thresholds() {
  pthread_mutex_lock(&g_lock);
  const LevelThresholds t = g_thresholds;
  pthread_mutex_unlock(&g_lock);
  return t;
}

void pressure_set_interval_ms(unsigned ms) {
  if (ms < 10) ms = 10;
  if (ms > 60000) ms = 60000;
  pthread_mutex_lock(&g_lock);
  g_interval_ms = ms;
  pthread_mutex_unlock(&g_lock);
}

void pressure_set_root(const char* root) {
  pthread_mutex_lock(&g_lock);
  snprintf(g_root, sizeof g_root, "%s", root && *root ? root : "/");
  g_root_changed = true;
  pthread_mutex_unlock(&g_lock);
}

int pressure_subscribe(void (*fn)(int level, void* ctx), void* ctx) {
  if (!fn) return -1;
  pressure_ensure_monitor();
  pthread_mutex_lock(&g_lock);
  int id = -1;
  for (Subscription& sub : g_subs) {
    if (sub.id == 0) {
      id = g_next_id++;
      if (g_next_id <= 0) g_next_id = 1;
      sub = {fn, ctx, id};
      break;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return id;
}

bool pressure_unsubscribe(int id) {
  if (id <= 0) return false;
  pthread_mutex_lock(&g_lock);
  bool found = false;
  for (Subscription& sub : g_subs) {
    if (sub.id == id) {
      sub = {};
      found = true;
    }
  }
  // The monitor may be inside this callback right now: wait until it returns, unless this is
  // that callback unsubscribing itself.
  while (found && g_inflight_id == id && !t_is_monitor) pthread_cond_wait(&g_cond, &g_lock);
  pthread_mutex_unlock(&g_lock);
  return found;
}

namespace {
// After the environment is read: the limit policy and the hooks; memf's own limit is armed on the
// allocation path (an allocation that would pass it runs the optimizer there, then fails or
// warns). No thread is started unless the program asks for pressure handling: a subscription, a
// cache, a level query (every such API call starts the monitor), or MEMF_PRESSURE=1. A thread in
// every process would cost wake-ups, and break programs that must stay single-threaded
// (unshare(CLONE_NEWUSER), for one, refuses a process with two threads).
__attribute__((constructor(MEMF_INIT_PRESSURE))) void pressure_at_start() {
  LimitAction action = LimitAction::kWarn;
  if (!config().secure) parse_limit_action(getenv("MEMF_LIMIT_ACTION"), &action);
  optimizer_set_limit_action(action);
  install_hooks();
  if (memory_limit()) pressure_limit_changed();
  if (config().pressure) pressure_ensure_monitor();
}
}  // namespace

}  // namespace memf
