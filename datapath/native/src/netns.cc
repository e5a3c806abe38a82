#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace weave {

SysResult RunInNetns(const std::string& netnsPath, const std::function<SysResult()>& fn) {
  if (netnsPath.empty()) return fn();
  SysResult result;
  std::thread worker([&]() {
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
  });
  worker.join();
  return result;
}

}  // namespace weave
