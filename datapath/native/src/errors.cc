#include "errors.h"

#include <cstring>

namespace weave {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what) {
  // strerrorname_np (glibc >= 2.32) gives the symbolic name; fall back to a generic one.
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  Napi::Error e = Napi::Error::New(env, what + ": " + std::strerror(err) + " (" + code + ")");
  e.Value().Set("code", Napi::String::New(env, code));
  e.Value().Set("errno", Napi::Number::New(env, err));
  e.Value().Set("syscall", Napi::String::New(env, what));
  return e;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const std::string& what) {
  ErrnoError(env, err, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace weave
