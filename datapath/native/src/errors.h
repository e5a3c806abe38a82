// errno -> JS exception with `code` ("EEXIST") and `errno` (17), like Node's own system errors.
#pragma once

#include <napi.h>

#include <string>

namespace weave {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what);

// Throws (as a pending JS exception; C++ exceptions are disabled) and returns undefined.
Napi::Value ThrowErrno(Napi::Env env, int err, const std::string& what);

Napi::Value ThrowType(Napi::Env env, const std::string& message);

}  // namespace weave
