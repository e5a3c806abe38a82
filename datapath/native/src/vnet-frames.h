// Frames that come with a virtio_net_hdr (a TAP opened with IFF_VNET_HDR and offloads on):
// the kernel hands us TCP/IPv4 super-frames up to 64 KiB (TSO) and frames whose checksum is
// only partial. Sleeve peers (Weave's among them) expect ordinary, complete Ethernet frames of
// at most the bridge MTU, so everything we read is turned into such frames here, in native
// code, before JavaScript sees it: super-frames are cut into MSS-sized TCP segments with their
// own IP id, length, sequence number, flags and full checksums, exactly as the kernel's own
// segmentation would have produced them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weave {

constexpr size_t kVnetHdrSize = 10;

struct VnetHdr {
  uint8_t flags;
  uint8_t gsoType;
  uint16_t hdrLen;
  uint16_t gsoSize;
  uint16_t csumStart;
  uint16_t csumOffset;
};

VnetHdr ParseVnetHdr(const uint8_t* p);

// Upper bound of the bytes and frames SegmentVnetFrame writes for `in` (vnet header + frame).
struct SegmentPlan {
  bool ok;          // false: the frame cannot be turned into ordinary frames (dropped)
  unsigned frames;  // number of frames it becomes
  size_t bytes;     // total bytes of those frames
};
SegmentPlan PlanVnetFrame(const uint8_t* in, size_t len);

// Writes the ordinary frames of `in` (vnet header + frame) back to back at `out` (room for
// plan.bytes) and the offset (in out) and length of each into offsets/lengths (room for
// plan.frames). Returns the number written; 0 when the frame is malformed (then dropped).
unsigned SegmentVnetFrame(const uint8_t* in, size_t len, uint8_t* out, uint32_t* offsets, uint32_t* lengths);

// Coalescing for writes (the other direction): consecutive TCP/IPv4 segments of one flow that
// the kernel could have cut from one super-frame are written as that super-frame (virtio_net_hdr
// with GSO TCPV4), so the bridge and the container's stack see one packet instead of dozens.
// CoalesceTcp4 looks at frames[0..count) (pointers and lengths) and returns how many of them,
// from the first, form one super-frame (1 = write the first alone). When it returns n > 1 it
// has written, into hdr (room for kVnetHdrSize + 14 + 60 + 60 bytes), the vnet header followed
// by the super-frame's Ethernet/IP/TCP headers; *hdrBytes is that length and *payloadOff the
// offset of the payload inside each frame (the same for all of them).
unsigned CoalesceTcp4(const uint8_t* const* frames, const uint32_t* lens, unsigned count, uint8_t* hdr, size_t* hdrBytes, size_t* payloadOff);
constexpr size_t kCoalesceHdrRoom = kVnetHdrSize + 14 + 60 + 60;
constexpr unsigned kMaxCoalesce = 64;

// The Internet checksum of p[0, len) folded into 16 bits (not inverted), starting from `sum`.
uint32_t ChecksumAdd(const uint8_t* p, size_t len, uint64_t sum);
uint16_t ChecksumFold(uint64_t sum);

}  // namespace weave
