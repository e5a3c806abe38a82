// What FdHandle and BatchHandle share: a JS object that owns a non-blocking fd and watches it
// for readability on the libuv loop, and gives JS close/ref/unref/fd/closed. The subclass T
// (CRTP, like Napi::ObjectWrap itself, so the JS methods bind without virtual calls) calls
// Watch() last in its constructor and supplies
//   bool Drain();  // reads what is queued, bounded; false after an unrecoverable error
// which runs on every wakeup. T declares `friend class PollableFd<T>` so Drain can stay private.
#pragma once

#include <napi.h>
#include <unistd.h>
#include <uv.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"

namespace weave {

// The halves that do not depend on T (pollable-fd.cc).
namespace pollable_fd {

// Watches fd for readability, unref'd: an idle fd must not keep the process alive (the JS side
// refs while it awaits data). nullptr, with a JS exception pending, on failure.
uv_poll_t* Start(Napi::Env env, int fd, void* data, uv_poll_cb onPoll);

// Stops watching; libuv frees the watcher once it is done with it.
void Stop(uv_poll_t* poll);

// fn.MakeCallback. An exception the callback throws is raised as uncaught, because no JS frame
// below a libuv callback could catch it. False if it threw.
bool Call(Napi::Env env, const Napi::FunctionReference& fn, napi_value recv,
          std::initializer_list<napi_value> args, Napi::AsyncContext& context);

}  // namespace pollable_fd

template <class T>
class PollableFd : public Napi::ObjectWrap<T> {
 public:
  ~PollableFd() override {
    // Collected without close() (environment teardown): still do not leak the fd.
    if (!closed_ && fd_ >= 0) Release();
  }

 protected:
  explicit PollableFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {}

  // DefineClass with T's own members followed by close, ref, unref, fd and closed.
  static Napi::Function DefineWith(Napi::Env env, const char* name,
                                   std::vector<Napi::ClassPropertyDescriptor<T>> members);

  // Takes ownership of fd and starts watching it. Errors go to onError; callbacks run in an
  // async context named resourceName. On failure a JS exception is pending and fd stays the
  // caller's.
  void Watch(Napi::Env env, int fd, const Napi::Function& onError, const char* resourceName);

  int fd() const { return fd_; }
  bool closed() const { return closed_; }

  // Calls fn (T's onMessage/onBatch) with recv as `this`; false if it threw.
  bool Call(const Napi::FunctionReference& fn, napi_value recv, std::initializer_list<napi_value> args) {
    return pollable_fd::Call(this->Env(), fn, recv, args, *context_);
  }

  void DeliverError(int err, const std::string& what) {
    Napi::Error e = ErrnoError(this->Env(), err, what);
    Call(onError_, this->Value(), {e.Value()});
  }

 private:
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      Release();
      // Watch() took a reference so the poll callback's raw pointer stays valid; not needed now.
      this->Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

  Napi::Value IsClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

  static void OnPoll(uv_poll_t* poll, int status, int events);

  void Release() {
    closed_ = true;
    if (poll_ != nullptr) {
      poll_->data = nullptr;
      pollable_fd::Stop(poll_);
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  int fd_ = -1;
  bool closed_ = false;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

template <class T>
Napi::Function PollableFd<T>::DefineWith(Napi::Env env, const char* name,
                                         std::vector<Napi::ClassPropertyDescriptor<T>> members) {
  using Wrap = Napi::ObjectWrap<T>;
  members.push_back(Wrap::InstanceMethod("close", &PollableFd::Close));
  members.push_back(Wrap::InstanceMethod("ref", &PollableFd::RefHandle));
  members.push_back(Wrap::InstanceMethod("unref", &PollableFd::UnrefHandle));
  members.push_back(Wrap::InstanceAccessor("fd", &PollableFd::GetFd, nullptr));
  members.push_back(Wrap::InstanceAccessor("closed", &PollableFd::IsClosed, nullptr));
  return Wrap::DefineClass(env, name, members);
}

template <class T>
void PollableFd<T>::Watch(Napi::Env env, int fd, const Napi::Function& onError, const char* resourceName) {
  onError_ = Napi::Persistent(onError);
  context_ = std::make_unique<Napi::AsyncContext>(env, resourceName);
  poll_ = pollable_fd::Start(env, fd, this, &PollableFd::OnPoll);
  if (poll_ == nullptr) return;
  fd_ = fd;
  // The poll callback holds a raw pointer to us: stay alive until close().
  this->Ref();
}

template <class T>
void PollableFd<T>::OnPoll(uv_poll_t* poll, int status, int /*events*/) {
  auto* self = static_cast<PollableFd*>(poll->data);
  if (self == nullptr || self->closed_) return;
  Napi::HandleScope scope(self->Env());
  T* owner = static_cast<T*>(self);
  if (status < 0) {
    // libuv turns POLLERR into UV_EBADF and stops the watcher. POLLERR usually means an error
    // queued on the socket that reading reports and clears: a pending ENOBUFS on netlink (the
    // kernel dropped messages for us), an ICMP error such as port unreachable on UDP. The fd
    // stays usable, so drain and watch again. A really broken fd fails the read with a fatal
    // error, which Drain delivers, and the watcher stays stopped.
    if (owner->Drain() && !self->closed_ && self->poll_ != nullptr) {
      int rc = uv_poll_start(self->poll_, UV_READABLE, &PollableFd::OnPoll);
      if (rc != 0) self->DeliverError(-rc, "uv_poll_start");
    }
    return;
  }
  owner->Drain();
}

}  // namespace weave
