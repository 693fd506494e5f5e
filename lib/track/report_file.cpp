#include "report_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "os.hpp"

namespace memf {

std::string expand_report_path(std::string_view pattern, long pid) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
      out += std::to_string(pid);
      ++i;
    } else if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == '%') {
      out += '%';
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

int write_report_file(const std::string& path, const std::string& data) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -1;
  if (!write_text(fd, data)) {
    const int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  if (close(fd) != 0) return -1;
  return 0;
}

bool write_text(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += size_t(n);
  }
  return true;
}

bool read_text(int fd, std::string* text) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    text->append(buffer, size_t(n));
  }
}

void report_warning(const std::string& text) {
  const std::string line = "memf: warning: " + text + "\n";
  os::write_stderr(line.data(), line.size());
}

}  // namespace memf
