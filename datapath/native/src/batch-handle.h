// A non-blocking UDP socket or TAP fd on the libuv loop that moves datagrams in batches:
// one wakeup reads up to `slots` datagrams (recvmmsg for UDP, a read() loop for TAP) into a
// caller-owned pool of fixed-size slots and makes ONE call into JS with the count, so the hot
// path allocates nothing per datagram. sendBatch() hands many datagrams to the kernel in one
// sendmmsg (UDP) or a write() loop (TAP).
#pragma once

#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "pollable-fd.h"

namespace weave {

class BatchHandle : public PollableFd<BatchHandle> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new BatchHandle(fd, kind: "udp" | "tap", pool: Uint8Array, slotSize, meta: Uint32Array,
  //                 onBatch(count), onError(err))
  // pool holds meta.length/3 slots of slotSize bytes. For datagram i the addon writes
  // meta[3i] = length, meta[3i+1] = source IPv4 (as a number, a.b.c.d = a<<24|...),
  // meta[3i+2] = source port (0 for TAP).
  explicit BatchHandle(const Napi::CallbackInfo& info);

 private:
  friend class PollableFd<BatchHandle>;

  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value GetStats(const Napi::CallbackInfo& info);

  // Reads batches until the fd is empty (bounded, so one busy fd cannot starve the loop).
  // Returns false after an unrecoverable error.
  bool Drain();
  int ReadBatch();  // >= 0 datagrams read, or -errno

  bool udp_ = false;
  Napi::FunctionReference onBatch_;
  Napi::Reference<Napi::Uint8Array> poolRef_;
  Napi::Reference<Napi::Uint32Array> metaRef_;
  uint8_t* pool_ = nullptr;
  uint32_t* meta_ = nullptr;
  size_t slotSize_ = 0;
  unsigned slots_ = 0;
  // recvmmsg/sendmmsg scratch, sized once.
  std::vector<mmsghdr> rmsgs_;
  std::vector<iovec> riov_;
  std::vector<sockaddr_in> raddr_;
  std::vector<mmsghdr> smsgs_;
  std::vector<iovec> siov_;
  std::vector<sockaddr_in> saddr_;
  // Counters for diagnostics: datagrams received/sent, syscalls made, truncated datagrams.
  double received_ = 0, recvCalls_ = 0, sent_ = 0, sendCalls_ = 0, truncated_ = 0;
};

}  // namespace weave
