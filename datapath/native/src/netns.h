// Running a piece of code inside another network namespace without moving the calling thread.
#pragma once

#include <functional>
#include <string>

namespace weave {

// Result of a syscall sequence: value >= 0 on success, or err = errno and what = the failing step.
struct SysResult {
  int value = -1;
  int err = 0;
  std::string what;
};

// Runs `fn` on a fresh std::thread that first joins the network namespace at `netnsPath`
// (empty = stay in the current one) and then exits, so no thread of the process that JS or
// libuv uses ever changes namespace. The thread's namespace reference dies with it; sockets and
// devices created by `fn` keep the namespace they were created in.
SysResult RunInNetns(const std::string& netnsPath, const std::function<SysResult()>& fn);

}  // namespace weave
