// A non-blocking fd (netlink socket or TAP device) watched by libuv. Every readable wakeup
// drains up to kBatch datagrams and hands each to JS; send() writes one datagram.
#pragma once

#include <napi.h>

#include <vector>

#include "pollable-fd.h"

namespace weave {

class FdHandle : public PollableFd<FdHandle> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new FdHandle(fd, kind: "netlink" | "tap", onMessage(buf), onError(err))
  explicit FdHandle(const Napi::CallbackInfo& info);

 private:
  friend class PollableFd<FdHandle>;

  static constexpr int kBatch = 64;
  static constexpr size_t kReadBuffer = 64 * 1024;

  Napi::Value Send(const Napi::CallbackInfo& info);

  // Reads up to kBatch datagrams; false if the fd failed with an unrecoverable error.
  bool Drain();

  bool netlink_ = false;
  Napi::FunctionReference onMessage_;
  std::vector<uint8_t> buffer_;
};

}  // namespace weave
