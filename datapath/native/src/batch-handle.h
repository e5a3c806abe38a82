// A non-blocking UDP socket or TAP fd on the libuv loop that moves datagrams in batches:
// one wakeup reads up to `slots` datagrams (recvmmsg for UDP, a read() loop for TAP) into a
// caller-owned pool and makes ONE call into JS with the count, so the hot path allocates
// nothing per datagram. sendBatch() hands many datagrams to the kernel in one sendmmsg (UDP)
// or a write() loop (TAP).
//
// Offloads (see docs/performance.md#sleeve):
// * UDP send (setGso(true)): runs of datagrams to the same destination that lie back to back
//   and have one length (the last may be shorter) go as ONE message with UDP_SEGMENT; the wire
//   still carries the same datagrams. A kernel that refuses (EIO: no checksum offload) turns
//   GSO off for the handle; EINVAL (e.g. above the path MTU) resends that run one by one.
// * UDP receive: when the socket has UDP_GRO on, a coalesced read is split here into the
//   datagrams it holds (the UDP_GRO cmsg gives their size), each its own entry.
// * kind "tap-vnet" (IFF_VNET_HDR with TSO/checksum offload): each read is a frame with a
//   virtio_net_hdr, possibly a 64 KiB TCP super-frame; it is turned into ordinary frames
//   (vnet-frames.h) in the pool. Writes coalesce runs of segments of one TCP flow into one
//   super-frame with a GSO header (setGso(false) writes each frame alone, with an empty header).
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

  // new BatchHandle(fd, kind: "udp" | "tap" | "tap-vnet", pool: Uint8Array, slotSize,
  //                 meta: Uint32Array, onBatch(count), onError(err))
  // udp/tap: pool holds pool.length/slotSize read slots (1..1024). tap-vnet: slotSize is the
  // largest read (>= 65546) and the pool is where the frames are laid out. For entry i the
  // addon writes meta[4i] = length, meta[4i+1] = source IPv4 (as a number, a.b.c.d = a<<24|...),
  // meta[4i+2] = source port (0 for TAP), meta[4i+3] = offset in pool; meta.length/4 entries.
  explicit BatchHandle(const Napi::CallbackInfo& info);

 private:
  friend class PollableFd<BatchHandle>;

  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value GetStats(const Napi::CallbackInfo& info);
  Napi::Value SetGso(const Napi::CallbackInfo& info);
  int SendUdp(const uint8_t* base, const uint32_t* d, int64_t count, int64_t* done);
  int SendTap(const uint8_t* base, const uint32_t* d, int64_t count, int64_t* done);
  int ReadUdp();
  int ReadTap();
  int ReadTapVnet(bool readMore);

  // Reads batches until the fd is empty (bounded, so one busy fd cannot starve the loop).
  // Returns false after an unrecoverable error.
  bool Drain();
  int ReadBatch();  // >= 0 datagrams read, or -errno

  bool udp_ = false;
  bool vnet_ = false;
  bool gso_ = false;
  bool coalesce_ = true;  // tap-vnet: write runs of TCP segments as one super-frame
  // The last read found the fd empty (tap-vnet reads until then or until the pool is full).
  bool drained_ = false;
  size_t poolSize_ = 0;
  unsigned entries_ = 0;
  // tap-vnet: the raw read, kept when its frames did not fit this batch.
  std::vector<uint8_t> scratch_;
  size_t pending_ = 0;
  std::vector<uint32_t> segOffs_, segLens_;
  std::vector<char> rctl_;
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
  std::vector<char> sctl_;
  std::vector<unsigned> sgroup_;  // datagrams in each message of a sendmmsg
  std::vector<iovec> tiov_;       // tap-vnet writes: header + frame
  // Counters for diagnostics: datagrams received/sent, syscalls made, truncated datagrams.
  double received_ = 0, recvCalls_ = 0, sent_ = 0, sendCalls_ = 0, truncated_ = 0;
  // Offload counters: GSO messages sent and the datagrams in them, GRO reads split, super-frames
  // segmented, frames dropped as malformed.
  double gsoSends_ = 0, gsoDatagrams_ = 0, groReads_ = 0, superFrames_ = 0, badFrames_ = 0;
  // tap-vnet writes: super-frames written and the frames coalesced into them.
  double superFramesOut_ = 0, coalesced_ = 0;
};

}  // namespace weave
