#include "batch-handle.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace weave {
namespace {

// Datagrams per sendmmsg call; larger batches are sent in chunks of this size.
constexpr unsigned kSendChunk = 256;
// Batches read per wakeup before yielding to the loop, so one busy fd cannot starve the rest.
constexpr int kMaxBatchesPerWakeup = 8;

// Errors a UDP socket reports for earlier traffic (ICMP errors on connected sockets, or a
// datagram that did not fit): the socket itself is fine.
bool TransientUdpError(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EMSGSIZE ||
         err == ENOBUFS || err == ENOMEM || err == EHOSTDOWN || err == ENETDOWN;
}

}  // namespace

Napi::Function BatchHandle::Define(Napi::Env env) {
  return DefineWith(env, "BatchHandle",
                    {
                        InstanceMethod("sendBatch", &BatchHandle::SendBatch),
                        InstanceMethod("stats", &BatchHandle::GetStats),
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
  if (kind != "udp" && kind != "tap") {
    ThrowType(env, "BatchHandle kind must be \"udp\" or \"tap\"");
    return;
  }
  udp_ = kind == "udp";
  Napi::TypedArray poolArg = info[2].As<Napi::TypedArray>();
  Napi::TypedArray metaArg = info[4].As<Napi::TypedArray>();
  if (poolArg.TypedArrayType() != napi_uint8_array || metaArg.TypedArrayType() != napi_uint32_array) {
    ThrowType(env, "BatchHandle: pool must be a Uint8Array (or Buffer) and meta a Uint32Array");
    return;
  }
  Napi::Uint8Array pool = poolArg.As<Napi::Uint8Array>();
  Napi::Uint32Array meta = metaArg.As<Napi::Uint32Array>();
  int64_t slotSize = info[3].As<Napi::Number>().Int64Value();
  slots_ = static_cast<unsigned>(meta.ElementLength() / 3);
  if (slotSize <= 0 || slots_ == 0 || slots_ > 1024 ||
      pool.ByteLength() < static_cast<size_t>(slotSize) * slots_) {
    ThrowType(env, "BatchHandle: need 1..1024 slots, pool.length >= slotSize * meta.length / 3");
    return;
  }
  slotSize_ = static_cast<size_t>(slotSize);
  // The JS side keeps using these arrays; the references pin their memory for our lifetime.
  poolRef_ = Napi::Persistent(pool);
  metaRef_ = Napi::Persistent(meta);
  pool_ = pool.Data();
  meta_ = meta.Data();
  onBatch_ = Napi::Persistent(info[5].As<Napi::Function>());

  rmsgs_.resize(slots_);
  riov_.resize(slots_);
  raddr_.resize(slots_);
  smsgs_.resize(kSendChunk);
  siov_.resize(kSendChunk);
  saddr_.resize(kSendChunk);
  Watch(env, fd, info[6].As<Napi::Function>(), udp_ ? "weave:udp" : "weave:tap");
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
  if (!udp_) {
    for (; done < count; done++) {
      ssize_t n;
      do {
        n = write(fd(), base + d[done * 4], d[done * 4 + 1]);
      } while (n < 0 && errno == EINTR);
      sendCalls_++;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        Napi::Error e = ErrnoError(env, errno, "write");
        e.Value().Set("index", Napi::Number::New(env, static_cast<double>(done)));
        e.ThrowAsJavaScriptException();
        return env.Undefined();
      }
      sent_++;
    }
    return Napi::Number::New(env, static_cast<double>(done));
  }

  while (done < count) {
    unsigned chunk = static_cast<unsigned>(std::min<int64_t>(count - done, kSendChunk));
    for (unsigned j = 0; j < chunk; j++) {
      const uint32_t* m = d + (done + j) * 4;
      siov_[j].iov_base = const_cast<uint8_t*>(base + m[0]);
      siov_[j].iov_len = m[1];
      std::memset(&smsgs_[j], 0, sizeof(mmsghdr));
      smsgs_[j].msg_hdr.msg_iov = &siov_[j];
      smsgs_[j].msg_hdr.msg_iovlen = 1;
      if (m[2] != 0) {
        saddr_[j] = sockaddr_in{};
        saddr_[j].sin_family = AF_INET;
        saddr_[j].sin_addr.s_addr = htonl(m[2]);
        saddr_[j].sin_port = htons(static_cast<uint16_t>(m[3]));
        smsgs_[j].msg_hdr.msg_name = &saddr_[j];
        smsgs_[j].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      }
    }
    int n;
    do {
      n = sendmmsg(fd(), smsgs_.data(), chunk, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    sendCalls_++;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Napi::Error e = ErrnoError(env, errno, "sendmmsg");
      e.Value().Set("index", Napi::Number::New(env, static_cast<double>(done)));
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    done += n;
    sent_ += n;
    // A short count means the next datagram hit an error (or EAGAIN); the next round reports it.
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

Napi::Value BatchHandle::GetStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("received", received_);
  o.Set("recvCalls", recvCalls_);
  o.Set("sent", sent_);
  o.Set("sendCalls", sendCalls_);
  o.Set("truncated", truncated_);
  return o;
}

int BatchHandle::ReadBatch() {
  if (udp_) {
    for (unsigned i = 0; i < slots_; i++) {
      riov_[i].iov_base = pool_ + i * slotSize_;
      riov_[i].iov_len = slotSize_;
      std::memset(&rmsgs_[i], 0, sizeof(mmsghdr));
      rmsgs_[i].msg_hdr.msg_iov = &riov_[i];
      rmsgs_[i].msg_hdr.msg_iovlen = 1;
      rmsgs_[i].msg_hdr.msg_name = &raddr_[i];
      rmsgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    int n;
    do {
      n = recvmmsg(fd(), rmsgs_.data(), slots_, MSG_DONTWAIT, nullptr);
    } while (n < 0 && errno == EINTR);
    recvCalls_++;
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
      uint32_t len = rmsgs_[i].msg_len;
      if ((rmsgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
        // Reported as length 0 so JS skips it; counted for diagnostics.
        truncated_++;
        len = 0;
      }
      meta_[i * 3] = len;
      meta_[i * 3 + 1] = ntohl(raddr_[i].sin_addr.s_addr);
      meta_[i * 3 + 2] = ntohs(raddr_[i].sin_port);
    }
    received_ += n;
    return n;
  }
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
    meta_[i * 3] = static_cast<uint32_t>(n);
    meta_[i * 3 + 1] = 0;
    meta_[i * 3 + 2] = 0;
  }
  received_ += i;
  return static_cast<int>(i);
}

bool BatchHandle::Drain() {
  Napi::Env env = Env();
  // A local handle keeps this object alive even if a callback closes it and drops it.
  Napi::Object self = Value();
  for (int round = 0; round < kMaxBatchesPerWakeup && !closed(); round++) {
    int n = ReadBatch();
    if (n < 0) {
      int err = -n;
      if (err == EAGAIN || err == EWOULDBLOCK) return true;
      DeliverError(err, udp_ ? "recvmmsg" : "read");
      if (udp_ && TransientUdpError(err)) continue;
      return false;
    }
    if (!Call(onBatch_, self, {Napi::Number::New(env, n)})) return true;
    // A partial batch means the queue is empty now.
    if (static_cast<unsigned>(n) < slots_) return true;
  }
  return true;
}

}  // namespace weave
