#include "fd-handle.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace weave {

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineWith(env, "FdHandle", {InstanceMethod("send", &FdHandle::Send)});
}

FdHandle::FdHandle(const Napi::CallbackInfo& info) : PollableFd<FdHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsFunction() ||
      !info[3].IsFunction()) {
    ThrowType(env, "FdHandle(fd, kind, onMessage, onError)");
    return;
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string kind = info[1].As<Napi::String>().Utf8Value();
  if (kind != "netlink" && kind != "tap") {
    ThrowType(env, "FdHandle kind must be \"netlink\" or \"tap\"");
    return;
  }
  netlink_ = kind == "netlink";
  onMessage_ = Napi::Persistent(info[2].As<Napi::Function>());
  buffer_.resize(kReadBuffer);
  Watch(env, fd, info[3].As<Napi::Function>(), "weave:fd");
}

Napi::Value FdHandle::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed()) return ThrowErrno(env, EBADF, "send");
  if (info.Length() < 1 || !info[0].IsBuffer()) return ThrowType(env, "send(buffer)");
  Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
  ssize_t n;
  do {
    if (netlink_) {
      sockaddr_nl kernel{};
      kernel.nl_family = AF_NETLINK;
      n = sendto(fd(), buf.Data(), buf.Length(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    } else {
      n = write(fd(), buf.Data(), buf.Length());
    }
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, netlink_ ? "sendto" : "write");
  return Napi::Number::New(env, static_cast<double>(n));
}

bool FdHandle::Drain() {
  Napi::Env env = Env();
  // A local handle keeps this object alive even if a callback closes it and drops it.
  Napi::Object self = Value();
  for (int i = 0; i < kBatch && !closed(); i++) {
    ssize_t n;
    bool truncated = false;
    if (netlink_) {
      iovec iov{buffer_.data(), buffer_.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      do {
        n = recvmsg(fd(), &msg, MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      truncated = n >= 0 && (msg.msg_flags & MSG_TRUNC) != 0;
    } else {
      do {
        n = read(fd(), buffer_.data(), buffer_.size());
      } while (n < 0 && errno == EINTR);
    }
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return true;
      // ENOBUFS on netlink = the kernel dropped messages for us; the socket stays usable.
      DeliverError(err, netlink_ ? "recvmsg" : "read");
      if (err != ENOBUFS) return false;
      continue;
    }
    if (truncated) {
      DeliverError(EMSGSIZE, "recvmsg (datagram larger than read buffer)");
      continue;
    }
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::Copy(env, buffer_.data(), static_cast<size_t>(n));
    if (!Call(onMessage_, self, {out})) return true;
  }
  return true;
}

}  // namespace weave
