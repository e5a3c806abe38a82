#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

namespace weave {

SysResult RunInNetns(const std::string& netnsPath, const std::function<SysResult()>& fn) {
  if (netnsPath.empty()) return fn();
  SysResult result;
  std::thread worker;
  auto body = [&]() {
    int nsfd = open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      result = SysResult{-1, errno, "open " + netnsPath};
      return;
    }
    if (setns(nsfd, CLONE_NEWNET) != 0) {
      int e = errno;
      close(nsfd);
      result = SysResult{-1, e, "setns " + netnsPath};
      return;
    }
    close(nsfd);
    result = fn();
  };
  try {
    worker = std::thread(body);
  } catch (const std::system_error& e) {
    // Out of threads (or similar): report it like a failed syscall instead of terminating.
    return SysResult{-1, e.code().value() != 0 ? e.code().value() : EAGAIN, "thread for setns"};
  }
  worker.join();
  return result;
}

}  // namespace weave
