#include "fd-handle.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace weave {

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineClass(env, "FdHandle",
                     {
                         InstanceMethod("send", &FdHandle::Send),
                         InstanceMethod("close", &FdHandle::Close),
                         InstanceMethod("ref", &FdHandle::RefHandle),
                         InstanceMethod("unref", &FdHandle::UnrefHandle),
                         InstanceAccessor("fd", &FdHandle::GetFd, nullptr),
                         InstanceAccessor("closed", &FdHandle::IsClosed, nullptr),
                     });
}

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
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
  onError_ = Napi::Persistent(info[3].As<Napi::Function>());
  context_ = std::make_unique<Napi::AsyncContext>(env, "weave:fd");
  buffer_.resize(kReadBuffer);

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "no libuv loop").ThrowAsJavaScriptException();
    return;
  }
  poll_ = new uv_poll_t;
  int rc = uv_poll_init(loop, poll_, fd);
  if (rc != 0) {
    delete poll_;
    poll_ = nullptr;
    ThrowErrno(env, -rc, "uv_poll_init");
    return;
  }
  poll_->data = this;
  rc = uv_poll_start(poll_, UV_READABLE, &FdHandle::OnPoll);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    ThrowErrno(env, -rc, "uv_poll_start");
    return;
  }
  // Idle sockets must not keep the process alive; the JS side refs while it awaits replies.
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  fd_ = fd;
  // The poll callback holds a raw pointer to us: stay alive until close().
  Ref();
}

FdHandle::~FdHandle() {
  if (!closed_ && fd_ >= 0) {
    closed_ = true;
    if (poll_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    close(fd_);
    fd_ = -1;
  }
}

void FdHandle::CloseInternal() {
  if (closed_) return;
  closed_ = true;
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  Unref();
}

Napi::Value FdHandle::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return ThrowErrno(env, EBADF, "send");
  if (info.Length() < 1 || !info[0].IsBuffer()) return ThrowType(env, "send(buffer)");
  Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
  ssize_t n;
  do {
    if (netlink_) {
      sockaddr_nl kernel{};
      kernel.nl_family = AF_NETLINK;
      n = sendto(fd_, buf.Data(), buf.Length(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    } else {
      n = write(fd_, buf.Data(), buf.Length());
    }
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, netlink_ ? "sendto" : "write");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value FdHandle::Close(const Napi::CallbackInfo& info) {
  CloseInternal();
  return info.Env().Undefined();
}

Napi::Value FdHandle::RefHandle(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value FdHandle::UnrefHandle(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value FdHandle::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value FdHandle::IsClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

void FdHandle::OnPoll(uv_poll_t* poll, int status, int /*events*/) {
  auto* self = static_cast<FdHandle*>(poll->data);
  if (self == nullptr || self->closed_) return;
  Napi::HandleScope scope(self->Env());
  if (status < 0) {
    // libuv turns POLLERR into UV_EBADF and stops the watcher. On a netlink socket POLLERR
    // usually means a pending ENOBUFS (the kernel dropped messages for us): reading consumes
    // it and the socket stays usable, so drain and watch again. A really broken fd fails the
    // read with a fatal error, which is delivered, and the watcher stays stopped.
    if (self->Drain() && !self->closed_ && self->poll_ != nullptr) {
      int rc = uv_poll_start(self->poll_, UV_READABLE, &FdHandle::OnPoll);
      if (rc != 0) self->DeliverError(-rc, "uv_poll_start");
    }
    return;
  }
  self->Drain();
}

void FdHandle::DeliverError(int err, const std::string& what) {
  Napi::Env env = Env();
  Napi::Error e = ErrnoError(env, err, what);
  onError_.MakeCallback(Value(), {e.Value()}, *context_);
  if (env.IsExceptionPending()) {
    Napi::Error thrown = env.GetAndClearPendingException();
    napi_fatal_exception(env, thrown.Value());
  }
}

bool FdHandle::Drain() {
  Napi::Env env = Env();
  // A local handle keeps this object alive even if a callback closes it and drops it.
  Napi::Object self = Value();
  for (int i = 0; i < kBatch && !closed_; i++) {
    ssize_t n;
    bool truncated = false;
    if (netlink_) {
      iovec iov{buffer_.data(), buffer_.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      do {
        n = recvmsg(fd_, &msg, MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      truncated = n >= 0 && (msg.msg_flags & MSG_TRUNC) != 0;
    } else {
      do {
        n = read(fd_, buffer_.data(), buffer_.size());
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
    onMessage_.MakeCallback(self, {out}, *context_);
    if (env.IsExceptionPending()) {
      Napi::Error thrown = env.GetAndClearPendingException();
      napi_fatal_exception(env, thrown.Value());
      return true;
    }
  }
  return true;
}

}  // namespace weave
