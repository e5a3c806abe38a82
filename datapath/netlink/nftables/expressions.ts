// nf_tables rule expressions as the kernel's expression VM reads them: each is a name plus its
// attributes, nested in a rule's expression list. Pure codec.
import { attrBe32, attrNested, attrString, attr } from '../attributes.ts';
import {
  NFTA_BITWISE_DREG,
  NFTA_BITWISE_LEN,
  NFTA_BITWISE_MASK,
  NFTA_BITWISE_OP,
  NFTA_BITWISE_SREG,
  NFTA_BITWISE_XOR,
  NFTA_CMP_DATA,
  NFTA_CMP_OP,
  NFTA_CMP_SREG,
  NFTA_DATA_VALUE,
  NFTA_DATA_VERDICT,
  NFTA_EXPR_DATA,
  NFTA_EXPR_NAME,
  NFTA_IMMEDIATE_DATA,
  NFTA_IMMEDIATE_DREG,
  NFTA_LIST_ELEM,
  NFTA_LOOKUP_DREG,
  NFTA_LOOKUP_SET,
  NFTA_LOOKUP_SET_ID,
  NFTA_LOOKUP_SREG,
  NFTA_META_DREG,
  NFTA_META_KEY,
  NFTA_META_SREG,
  NFTA_RT_DREG,
  NFTA_RT_KEY,
  NFTA_PAYLOAD_BASE,
  NFTA_PAYLOAD_DREG,
  NFTA_PAYLOAD_LEN,
  NFTA_PAYLOAD_OFFSET,
  NFTA_VERDICT_CHAIN,
  NFTA_VERDICT_CODE,
  NFT_REG_VERDICT,
} from './constants.ts';

export interface Verdict {
  /** NF_DROP, NF_ACCEPT, NFT_JUMP, NFT_RETURN, ... */
  code: number;
  /** Target of a jump or goto. */
  chain?: string;
}

export type NftExpr =
  | { kind: 'meta'; key: number; dreg: number }
  /** `meta <key> set`: writes the register into the packet's field (e.g. its mark). */
  | { kind: 'meta'; key: number; sreg: number }
  | { kind: 'rt'; key: number; dreg: number }
  | { kind: 'payload'; base: number; offset: number; len: number; dreg: number }
  /** `op` (NFTA_BITWISE_OP, 0 = mask-and-xor) is optional for the kernel; nft sends it for
   *  some expressions, so it is encoded only when given, where nft puts it. */
  | { kind: 'bitwise'; sreg: number; dreg: number; mask: Buffer; xor: Buffer; op?: number }
  | { kind: 'cmp'; sreg: number; op: number; data: Buffer }
  | { kind: 'immediate'; verdict: Verdict }
  | { kind: 'lookup'; set: string; setId?: number; sreg: number; dreg?: number };

export function encodeVerdict(v: Verdict): Buffer {
  const parts = [attrBe32(NFTA_VERDICT_CODE, v.code)];
  if (v.chain !== undefined) parts.push(attrString(NFTA_VERDICT_CHAIN, v.chain));
  return attrNested(NFTA_DATA_VERDICT, parts);
}

function value(type: number, data: Buffer): Buffer {
  return attrNested(type, [attr(NFTA_DATA_VALUE, data)]);
}

function body(e: NftExpr): Buffer[] {
  switch (e.kind) {
    case 'meta':
      return 'sreg' in e ? [attrBe32(NFTA_META_KEY, e.key), attrBe32(NFTA_META_SREG, e.sreg)] : [attrBe32(NFTA_META_KEY, e.key), attrBe32(NFTA_META_DREG, e.dreg)];
    case 'rt':
      return [attrBe32(NFTA_RT_KEY, e.key), attrBe32(NFTA_RT_DREG, e.dreg)];
    case 'payload':
      return [attrBe32(NFTA_PAYLOAD_DREG, e.dreg), attrBe32(NFTA_PAYLOAD_BASE, e.base), attrBe32(NFTA_PAYLOAD_OFFSET, e.offset), attrBe32(NFTA_PAYLOAD_LEN, e.len)];
    case 'bitwise':
      if (e.mask.length !== e.xor.length) throw new RangeError('bitwise mask and xor differ in length');
      return [
        attrBe32(NFTA_BITWISE_SREG, e.sreg),
        attrBe32(NFTA_BITWISE_DREG, e.dreg),
        ...(e.op !== undefined ? [attrBe32(NFTA_BITWISE_OP, e.op)] : []),
        attrBe32(NFTA_BITWISE_LEN, e.mask.length),
        value(NFTA_BITWISE_MASK, e.mask),
        value(NFTA_BITWISE_XOR, e.xor),
      ];
    case 'cmp':
      return [attrBe32(NFTA_CMP_SREG, e.sreg), attrBe32(NFTA_CMP_OP, e.op), value(NFTA_CMP_DATA, e.data)];
    case 'immediate':
      return [attrBe32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT), attrNested(NFTA_IMMEDIATE_DATA, [encodeVerdict(e.verdict)])];
    case 'lookup': {
      const parts = [attrString(NFTA_LOOKUP_SET, e.set), attrBe32(NFTA_LOOKUP_SREG, e.sreg)];
      if (e.dreg !== undefined) parts.push(attrBe32(NFTA_LOOKUP_DREG, e.dreg));
      if (e.setId !== undefined) parts.push(attrBe32(NFTA_LOOKUP_SET_ID, e.setId));
      return parts;
    }
  }
}

/** One element of NFTA_RULE_EXPRESSIONS. */
export function encodeExpr(e: NftExpr): Buffer {
  return attrNested(NFTA_LIST_ELEM, [attrString(NFTA_EXPR_NAME, e.kind), attrNested(NFTA_EXPR_DATA, body(e))]);
}
