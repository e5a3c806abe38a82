// weave_native: syscalls and fds only. Everything protocol-shaped lives in TypeScript.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <napi.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "batch-handle.h"
#include "errors.h"
#include "fd-handle.h"
#include "netns.h"
#include "udp.h"
#include "vnet-frames.h"

#include <algorithm>
#include <vector>

namespace weave {
namespace {

std::string OptionalString(const Napi::Value& v) { return v.IsString() ? v.As<Napi::String>().Utf8Value() : ""; }

// openNetlink(protocol, netnsPath?, rcvbuf?, groups?) -> fd (non-blocking, close-on-exec, bound)
Napi::Value OpenNetlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "openNetlink(protocol, netns?, rcvbuf?, groups?)");
  int protocol = info[0].As<Napi::Number>().Int32Value();
  std::string netns = info.Length() > 1 ? OptionalString(info[1]) : "";
  int rcvbuf = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 1 << 20;
  uint32_t groups = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;

  SysResult r = RunInNetns(netns, [&]() -> SysResult {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    if (fd < 0) return SysResult{-1, errno, "socket"};
    // FORCE lets root exceed rmem_max; dumps of big tables otherwise overrun with ENOBUFS.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    int one = 1;
    // Extended acks carry the kernel's error string; capped acks keep error replies small.
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = groups;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int e = errno;
      close(fd);
      return SysResult{-1, e, "bind"};
    }
    return SysResult{fd, 0, ""};
  });
  if (r.value < 0) return ThrowErrno(env, r.err, r.what);
  return Napi::Number::New(env, r.value);
}

// netlinkPortId(fd) -> the port id the kernel assigned at bind (nlmsg_pid of our requests).
Napi::Value NetlinkPortId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "netlinkPortId(fd)");
  sockaddr_nl addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(info[0].As<Napi::Number>().Int32Value(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ThrowErrno(env, errno, "getsockname");
  }
  return Napi::Number::New(env, addr.nl_pid);
}

// netlinkAddMembership(fd, group): join a multicast group (genetlink groups have ids > 31).
Napi::Value NetlinkAddMembership(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    return ThrowType(env, "netlinkAddMembership(fd, group)");
  }
  int group = info[1].As<Napi::Number>().Int32Value();
  if (setsockopt(info[0].As<Napi::Number>().Int32Value(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group,
                 sizeof(group)) != 0) {
    return ThrowErrno(env, errno, "setsockopt NETLINK_ADD_MEMBERSHIP");
  }
  return env.Undefined();
}

// netlinkSetBuffers(fd, sndbuf, rcvbuf): grow a socket's buffers (0 leaves one as it is). A
// netlink request must fit the send buffer whole (EMSGSIZE otherwise), and an nf_tables
// transaction is one request; FORCE lets root go past wmem_max/rmem_max, as nft does.
Napi::Value NetlinkSetBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    return ThrowType(env, "netlinkSetBuffers(fd, sndbuf, rcvbuf)");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  const int opts[2][2] = {{SO_SNDBUFFORCE, SO_SNDBUF}, {SO_RCVBUFFORCE, SO_RCVBUF}};
  for (int i = 0; i < 2; i++) {
    int bytes = info[1 + i].As<Napi::Number>().Int32Value();
    if (bytes <= 0) continue;
    if (setsockopt(fd, SOL_SOCKET, opts[i][0], &bytes, sizeof(bytes)) != 0 &&
        setsockopt(fd, SOL_SOCKET, opts[i][1], &bytes, sizeof(bytes)) != 0) {
      return ThrowErrno(env, errno, i == 0 ? "setsockopt SO_SNDBUF" : "setsockopt SO_RCVBUF");
    }
  }
  return env.Undefined();
}

// openTap(name, netnsPath?, { offloads? }) -> { fd, name, offloads }. The device lives while
// the fd is open. With offloads: IFF_VNET_HDR, and TUNSETOFFLOAD for checksum offload and TSO
// over IPv4, so the kernel hands us TCP super-frames and partial checksums (vnet-frames.h makes
// ordinary frames of them); `offloads` says whether the kernel took them. IPv6 TSO is not
// offered: the kernel segments those frames before they reach us.
Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "openTap(name, netns?, { offloads? })");
  bool offloads = info.Length() > 2 && info[2].IsObject() && info[2].As<Napi::Object>().Get("offloads").ToBoolean().Value();
  bool offloadsOn = false;
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.size() >= IFNAMSIZ) return ThrowErrno(env, EINVAL, "openTap: name too long");
  std::string netns = info.Length() > 1 ? OptionalString(info[1]) : "";
  char actual[IFNAMSIZ] = {0};

  SysResult r = RunInNetns(netns, [&]() -> SysResult {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return SysResult{-1, errno, "open /dev/net/tun"};
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offloads ? IFF_VNET_HDR : 0);
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
      int e = errno;
      close(fd);
      return SysResult{-1, e, "ioctl TUNSETIFF"};
    }
    std::memcpy(actual, ifr.ifr_name, IFNAMSIZ);
    actual[IFNAMSIZ - 1] = 0;
    if (offloads) {
      int hdr = 10;  // struct virtio_net_hdr, no num_buffers
      unsigned feats = TUN_F_CSUM | TUN_F_TSO4;
      if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) == 0 && ioctl(fd, TUNSETOFFLOAD, feats) == 0) offloadsOn = true;
      // without TUNSETOFFLOAD the frames still carry a (then always empty) header
    }
    return SysResult{fd, 0, ""};
  });
  if (r.value < 0) return ThrowErrno(env, r.err, r.what);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, r.value));
  out.Set("name", Napi::String::New(env, actual));
  out.Set("offloads", Napi::Boolean::New(env, offloadsOn));
  return out;
}

// segmentVnetFrame(input: vnet header + frame, out: Uint8Array, meta: Uint32Array) -> count:
// the ordinary frames the capture makes of one TAP read (vnet-frames.h), for tests. meta gets
// [offset, length] per frame; 0 = dropped as malformed; throws when out or meta is too small.
Napi::Value SegmentVnetFrameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    return ThrowType(env, "segmentVnetFrame(input, out, meta)");
  }
  Napi::Uint8Array in = info[0].As<Napi::Uint8Array>();
  Napi::Uint8Array out = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array meta = info[2].As<Napi::Uint32Array>();
  SegmentPlan plan = PlanVnetFrame(in.Data(), in.ByteLength());
  if (!plan.ok) return Napi::Number::New(env, 0);
  if (plan.bytes > out.ByteLength() || plan.frames * 2 > meta.ElementLength()) return ThrowType(env, "segmentVnetFrame: out or meta too small");
  std::vector<uint32_t> offs(plan.frames), lens(plan.frames);
  unsigned n = SegmentVnetFrame(in.Data(), in.ByteLength(), out.Data(), offs.data(), lens.data());
  for (unsigned i = 0; i < n; i++) {
    meta[i * 2] = offs[i];
    meta[i * 2 + 1] = lens[i];
  }
  return Napi::Number::New(env, n);
}

// coalesceTcp4(data: Uint8Array, meta: Uint32Array ([offset, length] per frame), count) ->
// { frames, written: Buffer } : what a tap-vnet write makes of frames that follow each other in
// a batch (the first `frames` of them become one write: vnet header + frame), for tests.
Napi::Value CoalesceTcp4Js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
    return ThrowType(env, "coalesceTcp4(data, meta, count)");
  }
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  Napi::Uint32Array meta = info[1].As<Napi::Uint32Array>();
  unsigned count = std::min<unsigned>(info[2].As<Napi::Number>().Uint32Value(), kMaxCoalesce);
  if (count * 2 > meta.ElementLength()) return ThrowType(env, "coalesceTcp4: count exceeds meta");
  const uint8_t* frames[kMaxCoalesce];
  uint32_t lens[kMaxCoalesce];
  for (unsigned i = 0; i < count; i++) {
    if (static_cast<size_t>(meta[i * 2]) + meta[i * 2 + 1] > data.ByteLength()) return ThrowType(env, "coalesceTcp4: frame outside data");
    frames[i] = data.Data() + meta[i * 2];
    lens[i] = meta[i * 2 + 1];
  }
  uint8_t hdr[kCoalesceHdrRoom];
  size_t hdrBytes = 0, payloadOff = 0;
  unsigned n = count == 0 ? 0 : CoalesceTcp4(frames, lens, count, hdr, &hdrBytes, &payloadOff);
  std::vector<uint8_t> out;
  if (n > 1) {
    out.assign(hdr, hdr + hdrBytes);
    for (unsigned i = 0; i < n; i++) out.insert(out.end(), frames[i] + payloadOff, frames[i] + lens[i]);
  } else if (n == 1) {
    out.assign(kVnetHdrSize, 0);
    out.insert(out.end(), frames[0], frames[0] + lens[0]);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("frames", Napi::Number::New(env, n));
  o.Set("written", Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size()));
  return o;
}

// writeFileInNetns(netnsPath | undefined, path, data): for per-netns files such as
// /proc/sys/net/..., whose meaning depends on the namespace of the writer.
Napi::Value WriteFileInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsString() || !(info[2].IsString() || info[2].IsBuffer())) {
    return ThrowType(env, "writeFileInNetns(netns, path, data)");
  }
  std::string netns = OptionalString(info[0]);
  std::string path = info[1].As<Napi::String>().Utf8Value();
  std::string data;
  if (info[2].IsBuffer()) {
    auto b = info[2].As<Napi::Buffer<char>>();
    data.assign(b.Data(), b.Length());
  } else {
    data = info[2].As<Napi::String>().Utf8Value();
  }
  SysResult r = RunInNetns(netns, [&]() -> SysResult {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC);
    if (fd < 0) return SysResult{-1, errno, "open " + path};
    ssize_t n;
    do {
      n = write(fd, data.data(), data.size());
    } while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0) return SysResult{-1, e, "write " + path};
    if (static_cast<size_t>(n) != data.size()) return SysResult{-1, EIO, "short write " + path};
    return SysResult{0, 0, ""};
  });
  if (r.value < 0) return ThrowErrno(env, r.err, r.what);
  return env.Undefined();
}

// closeFd(fd): for fds not (yet) owned by an FdHandle.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "closeFd(fd)");
  if (close(info[0].As<Napi::Number>().Int32Value()) != 0) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openNetlink", Napi::Function::New(env, OpenNetlink));
  exports.Set("netlinkPortId", Napi::Function::New(env, NetlinkPortId));
  exports.Set("netlinkAddMembership", Napi::Function::New(env, NetlinkAddMembership));
  exports.Set("netlinkSetBuffers", Napi::Function::New(env, NetlinkSetBuffers));
  exports.Set("openTap", Napi::Function::New(env, OpenTap));
  exports.Set("segmentVnetFrame", Napi::Function::New(env, SegmentVnetFrameJs));
  exports.Set("coalesceTcp4", Napi::Function::New(env, CoalesceTcp4Js));
  exports.Set("writeFileInNetns", Napi::Function::New(env, WriteFileInNetns));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("FdHandle", FdHandle::Define(env));
  exports.Set("BatchHandle", BatchHandle::Define(env));
  RegisterUdp(env, exports);
  return exports;
}

}  // namespace
}  // namespace weave

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return weave::Init(env, exports); }

NODE_API_MODULE(weave_native, InitModule)
