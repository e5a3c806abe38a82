// Bodies of the XFRM requests we send and the replies we read, laid out byte for byte as
// iproute2's `ip xfrm` sends them (test/unit/datapath/xfrm-codec.test.ts holds its bytes).
import { AttrSet, attr } from '../attributes.ts';
import { readU16, readU32, writeU16, writeU32 } from '../host-endian.ts';
import { ipFamily } from '../inet.ts';
import {
  ALGO_AEAD_NAME_LEN,
  IPPROTO_ESP,
  USERPOLICY_ID_LEN,
  USERPOLICY_INFO_LEN,
  USERSA_ID_LEN,
  USERSA_INFO_LEN,
  USERSPI_INFO_LEN,
  USER_TMPL_LEN,
  XFRMA_ALG_AEAD,
  XFRMA_MARK,
  XFRMA_REPLAY_ESN_VAL,
  XFRMA_SRCADDR,
  XFRMA_TMPL,
  XFRM_MODE_TRANSPORT,
  XFRM_STATE_ESN,
} from './constants.ts';
import { readHardAddExpires, readSelector, readXfrmAddress, writeSelector, writeUnlimitedLifetime, writeXfrmAddress } from './structs.ts';
import type { XfrmSelector } from './structs.ts';

/** An SA is named by (destination, SPI, protocol); the source narrows it. */
export interface SaId {
  src: string;
  dst: string;
  spi: number;
}

/** xfrm_mark: the packet's mark ANDed with `mask` must equal `value`. */
export interface XfrmMark {
  value: number;
  mask: number;
}

export interface AeadAlgorithm {
  /** Kernel crypto name, e.g. "rfc4106(gcm(aes))". */
  name: string;
  /** Key material (for rfc4106: AES key followed by the 4-byte salt). */
  key: Buffer;
  icvBits: number;
}

/** A transport-mode ESP SA. */
export interface SaSpec extends SaId {
  reqid: number;
  aead: AeadAlgorithm;
  /** Anti-replay window in packets; with `esn` it goes in XFRMA_REPLAY_ESN_VAL. */
  replayWindow: number;
  esn: boolean;
}

export interface AllocSpiSpec {
  src: string;
  dst: string;
  reqid: number;
  /** SPI range the kernel picks from (iproute2's default: 0x100..0x0fffffff). */
  min?: number;
  max?: number;
}

export interface PolicyTemplate {
  src: string;
  dst: string;
  spi: number;
  reqid: number;
}

export interface PolicyId {
  selector: XfrmSelector;
  /** XFRM_POLICY_IN / OUT / FWD */
  dir: number;
  mark?: XfrmMark;
}

export interface PolicySpec extends PolicyId {
  priority?: number;
  /** ESP transport templates; a policy with none just allows. */
  templates: PolicyTemplate[];
}

/** What we read back of an SA (dumps, ALLOCSPI's answer). */
export interface SaInfo extends SaId {
  proto: number;
  reqid: number;
  mode: number;
  selector: XfrmSelector | undefined;
  mark: XfrmMark | undefined;
  /** Seconds until the kernel removes it: 30 for the larval SA ALLOCSPI creates, 0 = never. */
  hardAddExpires: number;
}

export interface PolicyInfo extends PolicySpec {
  index: number;
  templates: (PolicyTemplate & { proto: number; mode: number })[];
}

function markAttr(mark: XfrmMark): Buffer {
  const b = Buffer.alloc(8);
  writeU32(b, mark.value, 0);
  writeU32(b, mark.mask, 4);
  return attr(XFRMA_MARK, b);
}

function readMark(attrs: AttrSet): XfrmMark | undefined {
  const b = attrs.get(XFRMA_MARK);
  return b && b.length >= 8 ? { value: readU32(b, 0), mask: readU32(b, 4) } : undefined;
}

/** xfrm_usersa_info (ID, addresses, lifetime, reqid, mode, flags) without algorithms. */
function usersaInfo(src: string, dst: string, spi: number, reqid: number, opts: { unlimited: boolean; flags: number }): Buffer {
  const b = Buffer.alloc(USERSA_INFO_LEN);
  // id: daddr, spi (network order), proto
  writeXfrmAddress(b, dst, 56);
  b.writeUInt32BE(spi >>> 0, 72);
  b.writeUInt8(IPPROTO_ESP, 76);
  writeXfrmAddress(b, src, 80);
  if (opts.unlimited) writeUnlimitedLifetime(b, 96);
  writeU32(b, reqid, 208);
  writeU16(b, ipFamily(src), 212);
  b.writeUInt8(XFRM_MODE_TRANSPORT, 214);
  b.writeUInt8(opts.flags, 216);
  return b;
}

/** XFRM_MSG_ALLOCSPI: a larval inbound SA whose SPI the kernel picks (unique for dst). */
export function encodeAllocSpi(spec: AllocSpiSpec): Buffer {
  const b = Buffer.alloc(USERSPI_INFO_LEN);
  usersaInfo(spec.src, spec.dst, 0, spec.reqid, { unlimited: false, flags: 0 }).copy(b, 0);
  writeU32(b, spec.min ?? 0x100, USERSA_INFO_LEN);
  writeU32(b, spec.max ?? 0x0fffffff, USERSA_INFO_LEN + 4);
  return b;
}

/** XFRM_MSG_NEWSA / XFRM_MSG_UPDSA body (UPDSA completes the larval SA from ALLOCSPI). */
export function encodeSa(spec: SaSpec): Buffer {
  if (spec.aead.name.length >= ALGO_AEAD_NAME_LEN) throw new Error(`algorithm name too long: ${spec.aead.name}`);
  const info = usersaInfo(spec.src, spec.dst, spec.spi, spec.reqid, { unlimited: true, flags: spec.esn ? XFRM_STATE_ESN : 0 });
  if (!spec.esn) {
    if (spec.replayWindow > 255) throw new Error('a replay window above 255 needs ESN');
    info.writeUInt8(spec.replayWindow, 215);
  }
  const aead = Buffer.alloc(ALGO_AEAD_NAME_LEN + 8 + spec.aead.key.length);
  aead.write(spec.aead.name, 0, 'latin1');
  writeU32(aead, spec.aead.key.length * 8, ALGO_AEAD_NAME_LEN);
  writeU32(aead, spec.aead.icvBits, ALGO_AEAD_NAME_LEN + 4);
  spec.aead.key.copy(aead, ALGO_AEAD_NAME_LEN + 8);
  const parts: Buffer[] = [info, attr(XFRMA_ALG_AEAD, aead)];
  if (spec.esn) {
    // xfrm_replay_state_esn without its bitmap: bmp_len (32-bit words), oseq, seq, oseq_hi,
    // seq_hi, replay_window; the kernel accepts exactly the struct and allocates the bitmap.
    const esn = Buffer.alloc(24);
    writeU32(esn, Math.ceil(spec.replayWindow / 32), 0);
    writeU32(esn, spec.replayWindow, 20);
    parts.push(attr(XFRMA_REPLAY_ESN_VAL, esn));
  }
  return Buffer.concat(parts);
}

/** XFRM_MSG_DELSA / XFRM_MSG_GETSA body: xfrm_usersa_id + XFRMA_SRCADDR. */
export function encodeSaId(id: SaId): Buffer {
  const b = Buffer.alloc(USERSA_ID_LEN);
  writeXfrmAddress(b, id.dst, 0);
  b.writeUInt32BE(id.spi >>> 0, 16);
  writeU16(b, ipFamily(id.dst), 20);
  b.writeUInt8(IPPROTO_ESP, 22);
  const src = Buffer.alloc(16);
  writeXfrmAddress(src, id.src, 0);
  return Buffer.concat([b, attr(XFRMA_SRCADDR, src)]);
}

function userTmpl(t: PolicyTemplate): Buffer {
  const b = Buffer.alloc(USER_TMPL_LEN);
  writeXfrmAddress(b, t.dst, 0);
  b.writeUInt32BE(t.spi >>> 0, 16);
  b.writeUInt8(IPPROTO_ESP, 20);
  writeU16(b, ipFamily(t.src), 24);
  writeXfrmAddress(b, t.src, 28);
  writeU32(b, t.reqid, 44);
  b.writeUInt8(XFRM_MODE_TRANSPORT, 48);
  // any authentication / encryption / compression algorithm
  writeU32(b, 0xffffffff, 52);
  writeU32(b, 0xffffffff, 56);
  writeU32(b, 0xffffffff, 60);
  return b;
}

/** XFRM_MSG_NEWPOLICY / XFRM_MSG_UPDPOLICY body. */
export function encodePolicy(spec: PolicySpec): Buffer {
  const b = Buffer.alloc(USERPOLICY_INFO_LEN);
  writeSelector(b, spec.selector, 0);
  writeUnlimitedLifetime(b, 56);
  writeU32(b, spec.priority ?? 0, 152);
  b.writeUInt8(spec.dir, 160);
  const parts: Buffer[] = [b];
  if (spec.templates.length > 0) parts.push(attr(XFRMA_TMPL, Buffer.concat(spec.templates.map(userTmpl))));
  if (spec.mark) parts.push(markAttr(spec.mark));
  return Buffer.concat(parts);
}

/** XFRM_MSG_DELPOLICY / XFRM_MSG_GETPOLICY body: selector + direction (+ mark), not index. */
export function encodePolicyId(id: PolicyId): Buffer {
  const b = Buffer.alloc(USERPOLICY_ID_LEN);
  writeSelector(b, id.selector, 0);
  b.writeUInt8(id.dir, 60);
  return id.mark ? Buffer.concat([b, markAttr(id.mark)]) : b;
}

/** An XFRM_MSG_NEWSA message from the kernel (dump entry or ALLOCSPI's answer). */
export function decodeSa(payload: Buffer): SaInfo {
  if (payload.length < USERSA_INFO_LEN) throw new Error(`xfrm SA message too short: ${payload.length} bytes`);
  const family = readU16(payload, 212);
  const attrs = new AttrSet(payload.subarray(USERSA_INFO_LEN));
  return {
    dst: readXfrmAddress(payload, 56, family),
    spi: payload.readUInt32BE(72),
    proto: payload.readUInt8(76),
    src: readXfrmAddress(payload, 80, family),
    reqid: readU32(payload, 208),
    mode: payload.readUInt8(214),
    selector: readSelector(payload, 0, family),
    mark: readMark(attrs),
    hardAddExpires: readHardAddExpires(payload, 96),
  };
}

/** An XFRM_MSG_NEWPOLICY message from the kernel (dump entry). */
export function decodePolicy(payload: Buffer): PolicyInfo {
  if (payload.length < USERPOLICY_INFO_LEN) throw new Error(`xfrm policy message too short: ${payload.length} bytes`);
  const selector = readSelector(payload, 0);
  const attrs = new AttrSet(payload.subarray(USERPOLICY_INFO_LEN));
  const templates: PolicyInfo['templates'] = [];
  const raw = attrs.get(XFRMA_TMPL);
  for (let off = 0; raw && off + USER_TMPL_LEN <= raw.length; off += USER_TMPL_LEN) {
    const family = readU16(raw, off + 24);
    templates.push({
      dst: readXfrmAddress(raw, off, family),
      spi: raw.readUInt32BE(off + 16),
      proto: raw.readUInt8(off + 20),
      src: readXfrmAddress(raw, off + 28, family),
      reqid: readU32(raw, off + 44),
      mode: raw.readUInt8(off + 48),
    });
  }
  const mark = readMark(attrs);
  return {
    selector: selector ?? { src: '0.0.0.0', dst: '0.0.0.0', srcPrefix: 0, dstPrefix: 0, proto: 0 },
    priority: readU32(payload, 152),
    index: readU32(payload, 156),
    dir: payload.readUInt8(160),
    ...(mark ? { mark } : {}),
    templates,
  };
}
