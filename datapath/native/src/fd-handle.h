// A non-blocking fd (netlink socket or TAP device) watched by libuv. Every readable wakeup
// drains up to kBatch datagrams and hands each to JS; send() writes one datagram.
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>
#include <vector>

namespace weave {

class FdHandle : public Napi::ObjectWrap<FdHandle> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new FdHandle(fd, kind: "netlink" | "tap", onMessage(buf), onError(err))
  explicit FdHandle(const Napi::CallbackInfo& info);
  ~FdHandle() override;

 private:
  static constexpr int kBatch = 64;
  static constexpr size_t kReadBuffer = 64 * 1024;

  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value RefHandle(const Napi::CallbackInfo& info);
  Napi::Value UnrefHandle(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* poll, int status, int events);
  // Reads up to kBatch datagrams; false if the fd failed with an unrecoverable error.
  bool Drain();
  void DeliverError(int err, const std::string& what);
  void CloseInternal();

  int fd_ = -1;
  bool netlink_ = false;
  bool closed_ = false;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onMessage_;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> context_;
  std::vector<uint8_t> buffer_;
};

}  // namespace weave
