#include "batch-handle.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "errors.h"
#include "vnet-frames.h"

namespace weave {
namespace {

// Messages per sendmmsg call; larger batches are sent in chunks of this size.
constexpr unsigned kSendChunk = 256;
// Batches read per wakeup before yielding to the loop, so one busy fd cannot starve the rest.
constexpr int kMaxBatchesPerWakeup = 8;
// The kernel's UDP_MAX_SEGMENTS (64 before 6.x, 128 since): stay within the older limit.
constexpr unsigned kMaxGsoSegments = 64;
// Largest UDP payload one GSO message may carry (IPv4 total length 65535 - IP - UDP header).
constexpr size_t kMaxGsoBytes = 65535 - 28;
constexpr size_t kCtlSpace = CMSG_SPACE(sizeof(int));

// Errors a UDP socket reports for earlier traffic (ICMP errors on connected sockets, or a
// datagram that did not fit): the socket itself is fine.
bool TransientUdpError(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EMSGSIZE ||
         err == ENOBUFS || err == ENOMEM || err == EHOSTDOWN || err == ENETDOWN;
}

const uint8_t kEmptyVnetHdr[kVnetHdrSize] = {0};

}  // namespace

Napi::Function BatchHandle::Define(Napi::Env env) {
  return DefineWith(env, "BatchHandle",
                    {
                        InstanceMethod("sendBatch", &BatchHandle::SendBatch),
                        InstanceMethod("stats", &BatchHandle::GetStats),
                        InstanceMethod("setGso", &BatchHandle::SetGso),
                    });
}

BatchHandle::BatchHandle(const Napi::CallbackInfo& info) : PollableFd<BatchHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsTypedArray() ||
      !info[3].IsNumber() || !info[4].IsTypedArray() || !info[5].IsFunction() || !info[6].IsFunction()) {
    ThrowType(env, "BatchHandle(fd, kind, pool: Uint8Array, slotSize, meta: Uint32Array, onBatch, onError)");
    return;
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string kind = info[1].As<Napi::String>().Utf8Value();
  if (kind != "udp" && kind != "tap" && kind != "tap-vnet") {
    ThrowType(env, "BatchHandle kind must be \"udp\", \"tap\" or \"tap-vnet\"");
    return;
  }
  udp_ = kind == "udp";
  vnet_ = kind == "tap-vnet";
  Napi::TypedArray poolArg = info[2].As<Napi::TypedArray>();
  Napi::TypedArray metaArg = info[4].As<Napi::TypedArray>();
  if (poolArg.TypedArrayType() != napi_uint8_array || metaArg.TypedArrayType() != napi_uint32_array) {
    ThrowType(env, "BatchHandle: pool must be a Uint8Array (or Buffer) and meta a Uint32Array");
    return;
  }
  Napi::Uint8Array pool = poolArg.As<Napi::Uint8Array>();
  Napi::Uint32Array meta = metaArg.As<Napi::Uint32Array>();
  int64_t slotSize = info[3].As<Napi::Number>().Int64Value();
  entries_ = static_cast<unsigned>(std::min<size_t>(meta.ElementLength() / 4, 1u << 20));
  poolSize_ = pool.ByteLength();
  if (vnet_) {
    if (slotSize < static_cast<int64_t>(65535 + kVnetHdrSize) || poolSize_ < static_cast<size_t>(slotSize) * 2 || entries_ < 64) {
      ThrowType(env, "BatchHandle tap-vnet: need slotSize >= 65545, pool.length >= 2 * slotSize, meta.length >= 256");
      return;
    }
    slots_ = entries_;
    scratch_.resize(static_cast<size_t>(slotSize));
  } else {
    slots_ = slotSize > 0 ? static_cast<unsigned>(std::min<size_t>(poolSize_ / static_cast<size_t>(slotSize), 1024)) : 0;
    if (slotSize <= 0 || slots_ == 0 || entries_ < slots_) {
      ThrowType(env, "BatchHandle: need 1..1024 slots of slotSize in pool and meta.length >= 4 * slots");
      return;
    }
  }
  slotSize_ = static_cast<size_t>(slotSize);
  // The JS side keeps using these arrays; the references pin their memory for our lifetime.
  poolRef_ = Napi::Persistent(pool);
  metaRef_ = Napi::Persistent(meta);
  pool_ = pool.Data();
  meta_ = meta.Data();
  onBatch_ = Napi::Persistent(info[5].As<Napi::Function>());

  if (udp_) {
    rmsgs_.resize(slots_);
    riov_.resize(slots_);
    raddr_.resize(slots_);
    rctl_.resize(slots_ * kCtlSpace);
    smsgs_.resize(kSendChunk);
    siov_.resize(kSendChunk);
    saddr_.resize(kSendChunk);
    sctl_.resize(kSendChunk * kCtlSpace);
    sgroup_.resize(kSendChunk);
  } else if (vnet_) {
    tiov_.resize(kMaxCoalesce + 1);
  }
  Watch(env, fd, info[6].As<Napi::Function>(), udp_ ? "weave:udp" : "weave:tap");
}

Napi::Value BatchHandle::SetGso(const Napi::CallbackInfo& info) {
  bool on = info.Length() > 0 && info[0].ToBoolean().Value();
  if (udp_) gso_ = on;
  if (vnet_) coalesce_ = on;
  return Napi::Boolean::New(info.Env(), udp_ ? gso_ : coalesce_);
}

// sendBatch(data: Uint8Array, desc: Uint32Array, count) -> number handed to the kernel.
// desc holds 4 numbers per datagram: offset into data, length, destination IPv4 (number),
// destination port. IPv4 0 = the connected peer. Stops early (returning fewer than count) when
// the socket buffer is full (EAGAIN); any other error throws with `index` = the failing datagram
// (those before it were sent), e.g. EMSGSIZE for a DF datagram above the path MTU.
Napi::Value BatchHandle::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed()) return ThrowErrno(env, EBADF, "sendBatch");
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
    return ThrowType(env, "sendBatch(data: Uint8Array, desc: Uint32Array, count)");
  }
  Napi::TypedArray dataArg = info[0].As<Napi::TypedArray>();
  Napi::TypedArray descArg = info[1].As<Napi::TypedArray>();
  if (dataArg.TypedArrayType() != napi_uint8_array || descArg.TypedArrayType() != napi_uint32_array) {
    return ThrowType(env, "sendBatch: data must be a Uint8Array (or Buffer), desc a Uint32Array");
  }
  Napi::Uint8Array data = dataArg.As<Napi::Uint8Array>();
  Napi::Uint32Array desc = descArg.As<Napi::Uint32Array>();
  int64_t count = info[2].As<Napi::Number>().Int64Value();
  if (count < 0 || static_cast<size_t>(count) * 4 > desc.ElementLength()) {
    return ThrowType(env, "sendBatch: count exceeds desc.length / 4");
  }
  const uint8_t* base = data.Data();
  const size_t dataLen = data.ByteLength();
  const uint32_t* d = desc.Data();
  for (int64_t i = 0; i < count; i++) {
    if (static_cast<uint64_t>(d[i * 4]) + d[i * 4 + 1] > dataLen) {
      return ThrowType(env, "sendBatch: a datagram lies outside data");
    }
  }
  int64_t done = 0;
  int err = udp_ ? SendUdp(base, d, count, &done) : SendTap(base, d, count, &done);
  if (err != 0) {
    Napi::Error e = ErrnoError(env, err, udp_ ? "sendmmsg" : "write");
    e.Value().Set("index", Napi::Number::New(env, static_cast<double>(done)));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

// Returns 0 (done = datagrams handed over, fewer than count on EAGAIN) or an errno for
// datagram *done.
int BatchHandle::SendTap(const uint8_t* base, const uint32_t* d, int64_t count, int64_t* done) {
  const uint8_t* frames[kMaxCoalesce];
  uint32_t lens[kMaxCoalesce];
  uint8_t hdr[kCoalesceHdrRoom];
  while (*done < count) {
    const uint32_t* m = d + *done * 4;
    unsigned group = 1;
    ssize_t n;
    if (vnet_) {
      unsigned avail = static_cast<unsigned>(std::min<int64_t>(count - *done, coalesce_ ? kMaxCoalesce : 1));
      for (unsigned k = 0; k < avail; k++) {
        frames[k] = base + d[(*done + k) * 4];
        lens[k] = d[(*done + k) * 4 + 1];
      }
      size_t hdrBytes = 0, payloadOff = 0;
      group = avail > 1 ? CoalesceTcp4(frames, lens, avail, hdr, &hdrBytes, &payloadOff) : 1;
      if (group > 1) {
        tiov_[0] = iovec{hdr, hdrBytes};
        for (unsigned k = 0; k < group; k++) tiov_[k + 1] = iovec{const_cast<uint8_t*>(frames[k] + payloadOff), lens[k] - payloadOff};
      } else {
        tiov_[0] = iovec{const_cast<uint8_t*>(kEmptyVnetHdr), kVnetHdrSize};
        tiov_[1] = iovec{const_cast<uint8_t*>(base + m[0]), m[1]};
      }
      do {
        n = writev(fd(), tiov_.data(), static_cast<int>(group + 1));
      } while (n < 0 && errno == EINTR);
    } else {
      do {
        n = write(fd(), base + m[0], m[1]);
      } while (n < 0 && errno == EINTR);
    }
    sendCalls_++;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    if (group > 1) {
      superFramesOut_++;
      coalesced_ += group;
    }
    *done += group;
    sent_ += group;
  }
  return 0;
}

int BatchHandle::SendUdp(const uint8_t* base, const uint32_t* d, int64_t count, int64_t* done) {
  // Datagrams before this index go without GSO (a GSO message of theirs was refused).
  int64_t plainUntil = 0;
  while (*done < count) {
    unsigned msgs = 0;
    int64_t i = *done;
    while (i < count && msgs < kSendChunk) {
      const uint32_t* m = d + i * 4;
      unsigned group = 1;
      size_t bytes = m[1];
      if (gso_ && i >= plainUntil) {
        // extend while the next datagram follows this one in memory, goes to the same place and
        // has the run's length (or is shorter, and then ends it)
        while (i + group < count && group < kMaxGsoSegments) {
          const uint32_t* p = d + (i + group - 1) * 4;
          const uint32_t* q = p + 4;
          if (q[0] != p[0] + p[1] || q[2] != m[2] || q[3] != m[3] || q[1] > m[1] || bytes + q[1] > kMaxGsoBytes) break;
          group++;
          bytes += q[1];
          if (q[1] < m[1]) break;
        }
      }
      mmsghdr& h = smsgs_[msgs];
      std::memset(&h, 0, sizeof(mmsghdr));
      siov_[msgs].iov_base = const_cast<uint8_t*>(base + m[0]);
      siov_[msgs].iov_len = bytes;
      h.msg_hdr.msg_iov = &siov_[msgs];
      h.msg_hdr.msg_iovlen = 1;
      if (m[2] != 0) {
        saddr_[msgs] = sockaddr_in{};
        saddr_[msgs].sin_family = AF_INET;
        saddr_[msgs].sin_addr.s_addr = htonl(m[2]);
        saddr_[msgs].sin_port = htons(static_cast<uint16_t>(m[3]));
        h.msg_hdr.msg_name = &saddr_[msgs];
        h.msg_hdr.msg_namelen = sizeof(sockaddr_in);
      }
      if (group > 1) {
        char* ctl = sctl_.data() + msgs * kCtlSpace;
        std::memset(ctl, 0, kCtlSpace);
        h.msg_hdr.msg_control = ctl;
        h.msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        cmsghdr* c = CMSG_FIRSTHDR(&h.msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = static_cast<uint16_t>(m[1]);
        std::memcpy(CMSG_DATA(c), &seg, sizeof(seg));
      }
      sgroup_[msgs] = group;
      msgs++;
      i += group;
    }
    int n;
    do {
      n = sendmmsg(fd(), smsgs_.data(), msgs, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    sendCalls_++;
    if (n < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return 0;
      if (sgroup_[0] > 1 && (e == EINVAL || e == EIO || e == EMSGSIZE)) {
        // the kernel would not segment this run: send it one by one, which also gives each
        // datagram its own verdict (EMSGSIZE above the path MTU); EIO means never (no checksum
        // offload on the route), so stop trying
        if (e == EIO) gso_ = false;
        plainUntil = *done + sgroup_[0];
        continue;
      }
      return e;
    }
    for (int k = 0; k < n; k++) {
      *done += sgroup_[k];
      sent_ += sgroup_[k];
      if (sgroup_[k] > 1) {
        gsoSends_++;
        gsoDatagrams_ += sgroup_[k];
      }
    }
    // A short count means the next message hit an error (or EAGAIN); the next round reports it.
  }
  return 0;
}

Napi::Value BatchHandle::GetStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("received", received_);
  o.Set("recvCalls", recvCalls_);
  o.Set("sent", sent_);
  o.Set("sendCalls", sendCalls_);
  o.Set("truncated", truncated_);
  o.Set("gsoSends", gsoSends_);
  o.Set("gsoDatagrams", gsoDatagrams_);
  o.Set("groReads", groReads_);
  o.Set("superFrames", superFrames_);
  o.Set("badFrames", badFrames_);
  o.Set("superFramesOut", superFramesOut_);
  o.Set("coalesced", coalesced_);
  return o;
}

int BatchHandle::ReadUdp() {
  for (unsigned i = 0; i < slots_; i++) {
    riov_[i].iov_base = pool_ + i * slotSize_;
    riov_[i].iov_len = slotSize_;
    std::memset(&rmsgs_[i], 0, sizeof(mmsghdr));
    rmsgs_[i].msg_hdr.msg_iov = &riov_[i];
    rmsgs_[i].msg_hdr.msg_iovlen = 1;
    rmsgs_[i].msg_hdr.msg_name = &raddr_[i];
    rmsgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    rmsgs_[i].msg_hdr.msg_control = rctl_.data() + i * kCtlSpace;
    rmsgs_[i].msg_hdr.msg_controllen = kCtlSpace;
  }
  int n;
  do {
    n = recvmmsg(fd(), rmsgs_.data(), slots_, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  recvCalls_++;
  if (n < 0) return -errno;
  drained_ = static_cast<unsigned>(n) < slots_;
  unsigned e = 0;
  for (int i = 0; i < n; i++) {
    msghdr& h = rmsgs_[i].msg_hdr;
    uint32_t len = rmsgs_[i].msg_len;
    uint32_t ip = ntohl(raddr_[i].sin_addr.s_addr);
    uint32_t port = ntohs(raddr_[i].sin_port);
    uint32_t off = static_cast<uint32_t>(i * slotSize_);
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      // Reported as length 0 so JS skips it; counted for diagnostics.
      truncated_++;
      len = 0;
    }
    uint32_t seg = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int v = 0;
        std::memcpy(&v, CMSG_DATA(c), sizeof(v));
        if (v > 0) seg = static_cast<uint32_t>(v);
      }
    }
    if (seg == 0 || seg >= len) seg = len;
    else groReads_++;
    // a coalesced read holds datagrams of `seg` bytes, the last one possibly shorter
    uint32_t at = 0;
    do {
      if (e >= entries_) {
        truncated_++;
        break;
      }
      uint32_t l = std::min(seg, len - at);
      meta_[e * 4] = l;
      meta_[e * 4 + 1] = ip;
      meta_[e * 4 + 2] = port;
      meta_[e * 4 + 3] = off + at;
      e++;
      at += l;
    } while (at < len);
  }
  received_ += e;
  return static_cast<int>(e);
}

int BatchHandle::ReadTap() {
  unsigned i = 0;
  for (; i < slots_; i++) {
    ssize_t n;
    do {
      n = read(fd(), pool_ + i * slotSize_, slotSize_);
    } while (n < 0 && errno == EINTR);
    recvCalls_++;
    if (n < 0) {
      if (i > 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return -errno;
    }
    meta_[i * 4] = static_cast<uint32_t>(n);
    meta_[i * 4 + 1] = 0;
    meta_[i * 4 + 2] = 0;
    meta_[i * 4 + 3] = static_cast<uint32_t>(i * slotSize_);
  }
  drained_ = i < slots_;
  received_ += i;
  return static_cast<int>(i);
}

int BatchHandle::ReadTapVnet(bool readMore) {
  unsigned e = 0;
  size_t used = 0;
  drained_ = false;
  while (e < entries_) {
    if (pending_ == 0) {
      if (!readMore) break;
      ssize_t n;
      do {
        n = read(fd(), scratch_.data(), scratch_.size());
      } while (n < 0 && errno == EINTR);
      recvCalls_++;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) drained_ = true;
        if (e > 0 && drained_) break;
        return -errno;
      }
      pending_ = static_cast<size_t>(n);
    }
    SegmentPlan plan = PlanVnetFrame(scratch_.data(), pending_);
    if (!plan.ok || plan.frames > entries_ || plan.bytes > poolSize_) {
      badFrames_++;
      pending_ = 0;
      continue;
    }
    if (e + plan.frames > entries_ || used + plan.bytes > poolSize_) break;  // next batch
    // the offsets/lengths land in the meta entries, then get their final layout
    uint32_t* offs = meta_ + e * 4;
    std::vector<uint32_t>& lens = segLens_;
    if (lens.size() < plan.frames) lens.resize(plan.frames);
    std::vector<uint32_t>& os = segOffs_;
    if (os.size() < plan.frames) os.resize(plan.frames);
    unsigned k = SegmentVnetFrame(scratch_.data(), pending_, pool_ + used, os.data(), lens.data());
    pending_ = 0;
    if (k == 0) {
      badFrames_++;
      continue;
    }
    if (k > 1) superFrames_++;
    for (unsigned j = 0; j < k; j++) {
      offs[j * 4] = lens[j];
      offs[j * 4 + 1] = 0;
      offs[j * 4 + 2] = 0;
      offs[j * 4 + 3] = static_cast<uint32_t>(used + os[j]);
    }
    e += k;
    used += plan.bytes;
  }
  received_ += e;
  return static_cast<int>(e);
}

bool BatchHandle::Drain() {
  Napi::Env env = Env();
  // A local handle keeps this object alive even if a callback closes it and drops it.
  Napi::Object self = Value();
  for (int round = 0; round < kMaxBatchesPerWakeup && !closed(); round++) {
    int n = udp_ ? ReadUdp() : vnet_ ? ReadTapVnet(true) : ReadTap();
    if (n < 0) {
      int err = -n;
      if (err == EAGAIN || err == EWOULDBLOCK) return true;
      DeliverError(err, udp_ ? "recvmmsg" : "read");
      if (udp_ && TransientUdpError(err)) continue;
      return false;
    }
    if (n > 0 && !Call(onBatch_, self, {Napi::Number::New(env, n)})) return true;
    // A partial batch means the queue is empty now.
    if (drained_ && pending_ == 0) return true;
  }
  // A frame read but left for the next batch must not wait for the next wakeup (the fd may
  // be empty now): deliver it without reading more; the poll wakes us again for the rest.
  if (vnet_ && pending_ != 0 && !closed()) {
    int n = ReadTapVnet(false);
    if (n > 0) Call(onBatch_, self, {Napi::Number::New(env, n)});
  }
  return true;
}

}  // namespace weave
