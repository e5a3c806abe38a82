#include "pollable-fd.h"

namespace weave {
namespace pollable_fd {

uv_poll_t* Start(Napi::Env env, int fd, void* data, uv_poll_cb onPoll) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "no libuv loop").ThrowAsJavaScriptException();
    return nullptr;
  }
  auto* poll = new uv_poll_t;
  int rc = uv_poll_init(loop, poll, fd);
  if (rc != 0) {
    delete poll;
    ThrowErrno(env, -rc, "uv_poll_init");
    return nullptr;
  }
  poll->data = data;
  rc = uv_poll_start(poll, UV_READABLE, onPoll);
  if (rc != 0) {
    Stop(poll);
    ThrowErrno(env, -rc, "uv_poll_start");
    return nullptr;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(poll));
  return poll;
}

void Stop(uv_poll_t* poll) {
  uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
}

bool Call(Napi::Env env, const Napi::FunctionReference& fn, napi_value recv,
          std::initializer_list<napi_value> args, Napi::AsyncContext& context) {
  fn.MakeCallback(recv, args, context);
  if (!env.IsExceptionPending()) return true;
  Napi::Error thrown = env.GetAndClearPendingException();
  napi_fatal_exception(env, thrown.Value());
  return false;
}

}  // namespace pollable_fd
}  // namespace weave
