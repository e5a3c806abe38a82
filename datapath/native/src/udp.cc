#include "udp.h"

#include <netinet/udp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"
#include "netns.h"

namespace weave {
namespace {

bool ParseIpv4(const std::string& text, in_addr* out) { return inet_pton(AF_INET, text.c_str(), out) == 1; }

// "dont" | "want" | "do" | "probe" -> IP_PMTUDISC_*; -1 if unknown.
int PmtuMode(const std::string& mode) {
  if (mode == "dont") return IP_PMTUDISC_DONT;
  if (mode == "want") return IP_PMTUDISC_WANT;
  if (mode == "do") return IP_PMTUDISC_DO;
  if (mode == "probe") return IP_PMTUDISC_PROBE;
  return -1;
}

int32_t IntOption(const Napi::Object& o, const char* key, int32_t dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
}

// openUdp(address, port, netns?, { reusePort?, pmtuDiscover?, rcvbuf?, sndbuf?, gro? })
// -> { fd, address, port, gro: whether UDP_GRO is on }
//   -> { fd, address, port }   (non-blocking, close-on-exec, bound; port 0 = ephemeral)
Napi::Value OpenUdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    return ThrowType(env, "openUdp(address, port, netns?, options?)");
  }
  in_addr bindAddr{};
  if (!ParseIpv4(info[0].As<Napi::String>().Utf8Value(), &bindAddr)) return ThrowType(env, "openUdp: bad IPv4 address");
  int port = info[1].As<Napi::Number>().Int32Value();
  if (port < 0 || port > 65535) return ThrowType(env, "openUdp: bad port");
  std::string netns = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  bool reusePort = false;
  int pmtu = -1;
  int rcvbuf = 0, sndbuf = 0;
  bool gro = false;
  bool groOn = false;
  if (info.Length() > 3 && info[3].IsObject()) {
    Napi::Object o = info[3].As<Napi::Object>();
    reusePort = o.Get("reusePort").ToBoolean().Value();
    Napi::Value m = o.Get("pmtuDiscover");
    if (m.IsString()) {
      pmtu = PmtuMode(m.As<Napi::String>().Utf8Value());
      if (pmtu < 0) return ThrowType(env, "openUdp: pmtuDiscover must be dont|want|do|probe");
    }
    rcvbuf = IntOption(o, "rcvbuf", 0);
    sndbuf = IntOption(o, "sndbuf", 0);
    gro = o.Get("gro").ToBoolean().Value();
  }

  sockaddr_in bound{};
  SysResult r = RunInNetns(netns, [&]() -> SysResult {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) return SysResult{-1, errno, "socket"};
    auto fail = [fd](const char* what) {
      int e = errno;
      close(fd);
      return SysResult{-1, e, what};
    };
    int one = 1;
    if (reusePort && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      return fail("setsockopt SO_REUSEPORT");
    }
    if (pmtu >= 0 && setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) != 0) {
      return fail("setsockopt IP_MTU_DISCOVER");
    }
    // FORCE variants let root exceed the sysctl caps; bursts of batched traffic need the room.
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0) {
      return fail("setsockopt SO_RCVBUF");
    }
    if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) != 0) {
      return fail("setsockopt SO_SNDBUF");
    }
    // Not fatal: a kernel without UDP_GRO (< 5.0) just delivers datagrams one by one.
    if (gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0) groOn = true;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr = bindAddr;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return fail("bind");
    socklen_t len = sizeof(bound);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return fail("getsockname");
    return SysResult{fd, 0, ""};
  });
  if (r.value < 0) return ThrowErrno(env, r.err, r.what);
  char text[INET_ADDRSTRLEN] = {0};
  inet_ntop(AF_INET, &bound.sin_addr, text, sizeof(text));
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, r.value));
  out.Set("address", Napi::String::New(env, text));
  out.Set("port", Napi::Number::New(env, ntohs(bound.sin_port)));
  out.Set("gro", Napi::Boolean::New(env, groOn));
  return out;
}

// udpConnect(fd, address, port): fixes the peer, which makes IP_MTU readable and lets
// sendBatch use destination 0. Connecting to 0.0.0.0:0 is refused; use a new socket instead.
Napi::Value UdpConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber()) {
    return ThrowType(env, "udpConnect(fd, address, port)");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (!ParseIpv4(info[1].As<Napi::String>().Utf8Value(), &addr.sin_addr)) return ThrowType(env, "udpConnect: bad IPv4 address");
  addr.sin_port = htons(static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value()));
  if (connect(info[0].As<Napi::Number>().Int32Value(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ThrowErrno(env, errno, "connect");
  }
  return env.Undefined();
}

// udpSetPmtuDiscover(fd, "dont" | "want" | "do" | "probe"): "do" sets DF on every datagram
// and makes sends above the known path MTU fail with EMSGSIZE; "dont" never sets DF.
Napi::Value UdpSetPmtuDiscover(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    return ThrowType(env, "udpSetPmtuDiscover(fd, mode)");
  }
  int mode = PmtuMode(info[1].As<Napi::String>().Utf8Value());
  if (mode < 0) return ThrowType(env, "udpSetPmtuDiscover: mode must be dont|want|do|probe");
  if (setsockopt(info[0].As<Napi::Number>().Int32Value(), IPPROTO_IP, IP_MTU_DISCOVER, &mode, sizeof(mode)) != 0) {
    return ThrowErrno(env, errno, "setsockopt IP_MTU_DISCOVER");
  }
  return env.Undefined();
}

// udpGetMtu(fd) -> the kernel's path MTU towards the connected peer (ENOTCONN otherwise).
Napi::Value UdpGetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "udpGetMtu(fd)");
  int mtu = 0;
  socklen_t len = sizeof(mtu);
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), IPPROTO_IP, IP_MTU, &mtu, &len) != 0) {
    return ThrowErrno(env, errno, "getsockopt IP_MTU");
  }
  return Napi::Number::New(env, mtu);
}

}  // namespace

void RegisterUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("openUdp", Napi::Function::New(env, OpenUdp));
  exports.Set("udpConnect", Napi::Function::New(env, UdpConnect));
  exports.Set("udpSetPmtuDiscover", Napi::Function::New(env, UdpSetPmtuDiscover));
  exports.Set("udpGetMtu", Napi::Function::New(env, UdpGetMtu));
}

}  // namespace weave
