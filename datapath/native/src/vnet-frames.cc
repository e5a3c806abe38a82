#include "vnet-frames.h"

#include <cstring>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the pseudo-header sums below assume little-endian");

namespace weave {
namespace {

constexpr uint8_t kNeedsCsum = 1;
constexpr uint8_t kGsoNone = 0;
constexpr uint8_t kGsoTcpv4 = 1;
constexpr size_t kEth = 14;

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint32_t Get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

// Where the IPv4 and TCP headers of a TSO super-frame lie, or ok = false.
struct Tcp4Layout {
  bool ok;
  size_t ihl, thl, hdrs, payload;
};

Tcp4Layout LayoutTcp4(const uint8_t* f, size_t len) {
  Tcp4Layout l{false, 0, 0, 0, 0};
  if (len < kEth + 20 || Get16(f + 12) != 0x0800) return l;
  const uint8_t* ip = f + kEth;
  if ((ip[0] >> 4) != 4 || ip[9] != 6) return l;
  l.ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if (l.ihl < 20 || len < kEth + l.ihl + 20) return l;
  l.thl = static_cast<size_t>(ip[l.ihl + 12] >> 4) * 4;
  if (l.thl < 20 || len < kEth + l.ihl + l.thl) return l;
  l.hdrs = kEth + l.ihl + l.thl;
  l.payload = len - l.hdrs;
  l.ok = true;
  return l;
}

}  // namespace

VnetHdr ParseVnetHdr(const uint8_t* p) {
  VnetHdr h;
  // Little-endian: the TAP uses the host's byte order (x86, arm64) unless TUNSETVNETBE.
  h.flags = p[0];
  h.gsoType = p[1];
  h.hdrLen = static_cast<uint16_t>(p[2] | p[3] << 8);
  h.gsoSize = static_cast<uint16_t>(p[4] | p[5] << 8);
  h.csumStart = static_cast<uint16_t>(p[6] | p[7] << 8);
  h.csumOffset = static_cast<uint16_t>(p[8] | p[9] << 8);
  return h;
}

uint32_t ChecksumAdd(const uint8_t* p, size_t len, uint64_t sum) {
  while (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);  // native order: the one's-complement sum is byte-order independent
    sum += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    uint16_t w = 0;
    std::memcpy(&w, p, 1);
    sum += w;
  }
  while (sum >> 32) sum = (sum & 0xffffffffu) + (sum >> 32);
  return static_cast<uint32_t>(sum);
}

uint16_t ChecksumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

namespace {

// Stores the inverted checksum of f[start, len) (the field holding the partial pseudo-header
// sum, as the kernel leaves it) at f[start + off], in the memory's native order.
bool CompleteAt(uint8_t* f, size_t len, size_t start, size_t off) {
  if (start >= len || start + off + 2 > len) return false;
  uint16_t sum = ChecksumFold(ChecksumAdd(f + start, len - start, 0));
  uint16_t v = static_cast<uint16_t>(~sum);
  // offset 6 is UDP's checksum (TCP's is 16, ICMP's 2), where 0 means "none": send 0xffff
  if (v == 0 && off == 6) v = 0xffff;
  std::memcpy(f + start + off, &v, 2);
  return true;
}

}  // namespace

SegmentPlan PlanVnetFrame(const uint8_t* in, size_t len) {
  SegmentPlan p{false, 0, 0};
  if (len <= kVnetHdrSize) return p;
  VnetHdr h = ParseVnetHdr(in);
  size_t flen = len - kVnetHdrSize;
  uint8_t type = h.gsoType & 0x7f;
  if (type == kGsoNone) {
    if ((h.flags & kNeedsCsum) != 0 && static_cast<size_t>(h.csumStart) + h.csumOffset + 2 > flen) return p;
    p = SegmentPlan{true, 1, flen};
    return p;
  }
  if (type != kGsoTcpv4 || h.gsoSize == 0 || (h.gsoType & 0x80) != 0) return p;
  Tcp4Layout l = LayoutTcp4(in + kVnetHdrSize, flen);
  if (!l.ok) return p;
  if (l.payload == 0) return SegmentPlan{true, 1, flen};
  unsigned n = static_cast<unsigned>((l.payload + h.gsoSize - 1) / h.gsoSize);
  return SegmentPlan{true, n, flen + (n - 1) * l.hdrs};
}

unsigned SegmentVnetFrame(const uint8_t* in, size_t len, uint8_t* out, uint32_t* offsets, uint32_t* lengths) {
  SegmentPlan plan = PlanVnetFrame(in, len);
  if (!plan.ok) return 0;
  VnetHdr h = ParseVnetHdr(in);
  const uint8_t* frame = in + kVnetHdrSize;
  size_t flen = len - kVnetHdrSize;
  if ((h.gsoType & 0x7f) == kGsoNone) {
    std::memcpy(out, frame, flen);
    if ((h.flags & kNeedsCsum) != 0 && !CompleteAt(out, flen, h.csumStart, h.csumOffset)) return 0;
    offsets[0] = 0;
    lengths[0] = static_cast<uint32_t>(flen);
    return 1;
  }
  Tcp4Layout l = LayoutTcp4(frame, flen);
  const size_t mss = h.gsoSize;
  const uint8_t* ip0 = frame + kEth;
  const uint8_t* tcp0 = ip0 + l.ihl;
  const uint16_t id0 = Get16(ip0 + 4);
  const uint32_t seq0 = Get32(tcp0 + 4);
  const uint8_t flags0 = tcp0[13];
  // pseudo-header minus the length: addresses and protocol
  const uint64_t pseudo = ChecksumAdd(ip0 + 12, 8, 0) + static_cast<uint64_t>(__builtin_bswap16(6));
  size_t o = 0;
  unsigned n = 0;
  for (size_t done = 0; done < l.payload || (l.payload == 0 && n == 0); n++) {
    size_t chunk = l.payload - done < mss ? l.payload - done : mss;
    bool last = done + chunk >= l.payload;
    uint8_t* f = out + o;
    std::memcpy(f, frame, l.hdrs);
    std::memcpy(f + l.hdrs, frame + l.hdrs + done, chunk);
    uint8_t* ip = f + kEth;
    uint8_t* tcp = ip + l.ihl;
    Put16(ip + 2, static_cast<uint16_t>(l.ihl + l.thl + chunk));
    Put16(ip + 4, static_cast<uint16_t>(id0 + n));
    Put16(ip + 10, 0);
    uint16_t ipsum = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(ip, l.ihl, 0)));
    std::memcpy(ip + 10, &ipsum, 2);
    Put32(tcp + 4, seq0 + static_cast<uint32_t>(done));
    uint8_t fl = flags0;
    if (!last) fl &= static_cast<uint8_t>(~0x09);  // FIN, PSH only on the last segment
    if (n > 0) fl &= static_cast<uint8_t>(~0x80);  // CWR only on the first
    tcp[13] = fl;
    Put16(tcp + 16, 0);
    uint64_t sum = pseudo + __builtin_bswap16(static_cast<uint16_t>(l.thl + chunk));
    uint16_t tsum = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(tcp, l.thl + chunk, sum)));
    std::memcpy(tcp + 16, &tsum, 2);
    offsets[n] = static_cast<uint32_t>(o);
    lengths[n] = static_cast<uint32_t>(l.hdrs + chunk);
    o += l.hdrs + chunk;
    done += chunk;
    if (l.payload == 0) {
      n++;
      break;
    }
  }
  return n;
}

unsigned CoalesceTcp4(const uint8_t* const* frames, const uint32_t* lens, unsigned count, uint8_t* hdr, size_t* hdrBytes, size_t* payloadOff) {
  if (count < 2) return count;
  const uint8_t* f0 = frames[0];
  Tcp4Layout l0 = LayoutTcp4(f0, lens[0]);
  // only plain data segments: ACK, with PSH allowed on the last one
  if (!l0.ok || l0.payload == 0 || (f0[kEth + l0.ihl + 13] & ~0x08) != 0x10) return 1;
  const uint8_t* ip0 = f0 + kEth;
  // not fragments; DF set, so the kernel's segmentation may renumber the IP ids
  if ((Get16(ip0 + 6) & 0xbfff) != 0 || (ip0[6] & 0x40) == 0) return 1;
  if (Get16(ip0 + 2) != lens[0] - kEth) return 1;  // no Ethernet padding
  const size_t mss = l0.payload;
  size_t total = l0.payload;
  uint32_t nextSeq = Get32(ip0 + l0.ihl + 4) + static_cast<uint32_t>(l0.payload);
  uint8_t lastFlags = f0[kEth + l0.ihl + 13];
  unsigned n = 1;
  while (n < count && n < kMaxCoalesce && (lastFlags & 0x08) == 0) {
    const uint8_t* f = frames[n];
    if (lens[n] <= l0.hdrs || lens[n] - l0.hdrs > mss || total + (lens[n] - l0.hdrs) + l0.ihl + l0.thl > 65535) break;
    const uint8_t* ip = f + kEth;
    // same Ethernet header, same IP header apart from length, id and checksum, same TCP header
    // apart from sequence number, flags and checksum (options, timestamps included, identical)
    if (std::memcmp(f, f0, kEth) != 0 || ip[0] != ip0[0] || ip[1] != ip0[1] || std::memcmp(ip + 6, ip0 + 6, 4) != 0 ||
        std::memcmp(ip + 12, ip0 + 12, l0.ihl - 12) != 0 || Get16(ip + 2) != lens[n] - kEth) {
      break;
    }
    const uint8_t* t = ip + l0.ihl;
    const uint8_t* t0 = ip0 + l0.ihl;
    if (static_cast<size_t>(t[12] >> 4) * 4 != l0.thl || std::memcmp(t, t0, 4) != 0 || Get32(t + 4) != nextSeq ||
        std::memcmp(t + 8, t0 + 8, 5) != 0 || (t[13] & ~0x08) != 0x10 || std::memcmp(t + 14, t0 + 14, 2) != 0 ||
        std::memcmp(t + 18, t0 + 18, l0.thl - 18) != 0) {
      break;
    }
    size_t pl = lens[n] - l0.hdrs;
    bool shortOne = pl < mss;
    total += pl;
    nextSeq += static_cast<uint32_t>(pl);
    lastFlags = t[13];
    n++;
    if (shortOne) break;  // only the last segment may be shorter than the rest
  }
  if (n < 2) return 1;
  // vnet header: GSO TCPV4 with the segment size, checksum partial over the TCP part
  std::memset(hdr, 0, kVnetHdrSize);
  hdr[0] = kNeedsCsum;
  hdr[1] = kGsoTcpv4;
  auto le16 = [](uint8_t* p, size_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
  };
  le16(hdr + 2, l0.hdrs);
  le16(hdr + 4, mss);
  le16(hdr + 6, kEth + l0.ihl);
  le16(hdr + 8, 16);
  uint8_t* f = hdr + kVnetHdrSize;
  std::memcpy(f, f0, l0.hdrs);
  uint8_t* ip = f + kEth;
  uint8_t* tcp = ip + l0.ihl;
  Put16(ip + 2, static_cast<uint16_t>(l0.ihl + l0.thl + total));
  Put16(ip + 10, 0);
  uint16_t ipsum = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(ip, l0.ihl, 0)));
  std::memcpy(ip + 10, &ipsum, 2);
  tcp[13] = lastFlags;
  // partial checksum: the pseudo-header sum (not inverted), as the kernel's own TSO leaves it
  uint64_t pseudo = ChecksumAdd(ip + 12, 8, 0) + static_cast<uint64_t>(__builtin_bswap16(6)) +
                    __builtin_bswap16(static_cast<uint16_t>(l0.thl + total));
  uint16_t partial = ChecksumFold(pseudo);
  std::memcpy(tcp + 16, &partial, 2);
  *hdrBytes = kVnetHdrSize + l0.hdrs;
  *payloadOff = l0.hdrs;
  return n;
}

}  // namespace weave
