// nf_tables objects (tables, chains, rules, sets, set elements) as netlink messages, and the
// batch that makes a list of them one atomic transaction. Pure codec; NftablesClient sends it.
import { attrBe32, attrNested, attrString, attr } from '../attributes.ts';
import { NLM_F_APPEND, NLM_F_CREATE } from '../constants.ts';
import {
  IFNAMSIZ,
  NFNETLINK_V0,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFTA_CHAIN_HOOK,
  NFTA_CHAIN_NAME,
  NFTA_CHAIN_POLICY,
  NFTA_CHAIN_TABLE,
  NFTA_CHAIN_TYPE,
  NFTA_DATA_VALUE,
  NFTA_HOOK_HOOKNUM,
  NFTA_HOOK_PRIORITY,
  NFTA_LIST_ELEM,
  NFTA_RULE_CHAIN,
  NFTA_RULE_EXPRESSIONS,
  NFTA_RULE_TABLE,
  NFTA_SET_DATA_LEN,
  NFTA_SET_DATA_TYPE,
  NFTA_SET_ELEM_DATA,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_SET_ID,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_SET_FLAGS,
  NFTA_SET_ID,
  NFTA_SET_KEY_LEN,
  NFTA_SET_KEY_TYPE,
  NFTA_SET_NAME,
  NFTA_SET_TABLE,
  NFTA_SET_USERDATA,
  NFTA_TABLE_NAME,
  NFT_MSG_DELTABLE,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_NEWRULE,
  NFT_MSG_NEWSET,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_NEWTABLE,
} from './constants.ts';
import { encodeExpr, encodeVerdict, type NftExpr, type Verdict } from './expressions.ts';

/** One message of a batch: type without the subsystem byte, flags beyond NLM_F_REQUEST. */
export interface NftMessage {
  type: number;
  flags: number;
  payload: Buffer;
}

/** struct nfgenmsg: family, version, resource id (big-endian). */
export function encodeNfgenmsg(family: number, resId = 0): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  b.writeUInt8(NFNETLINK_V0, 1);
  b.writeUInt16BE(resId, 2);
  return b;
}

/** The netlink message type of an nf_tables message. */
export function nftType(msg: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

export function batchBegin(): NftMessage {
  return { type: NFNL_MSG_BATCH_BEGIN, flags: 0, payload: encodeNfgenmsg(0, NFNL_SUBSYS_NFTABLES) };
}

export function batchEnd(): NftMessage {
  return { type: NFNL_MSG_BATCH_END, flags: 0, payload: encodeNfgenmsg(0, NFNL_SUBSYS_NFTABLES) };
}

/** Creates the table unless it exists (no NLM_F_EXCL), like `nft add table`. */
export function newTable(family: number, name: string): NftMessage {
  return { type: nftType(NFT_MSG_NEWTABLE), flags: NLM_F_CREATE, payload: Buffer.concat([encodeNfgenmsg(family), attrString(NFTA_TABLE_NAME, name)]) };
}

export function delTable(family: number, name: string): NftMessage {
  return { type: nftType(NFT_MSG_DELTABLE), flags: 0, payload: Buffer.concat([encodeNfgenmsg(family), attrString(NFTA_TABLE_NAME, name)]) };
}

export interface BaseChainSpec {
  hook: number;
  priority: number;
  /** NF_ACCEPT or NF_DROP */
  policy: number;
  /** 'route': a mark set in an output chain of this type re-routes the packet (and so
   *  re-selects its xfrm policy). */
  type: 'filter' | 'route';
}

export function newChain(family: number, table: string, name: string, base?: BaseChainSpec): NftMessage {
  const attrs = [attrString(NFTA_CHAIN_TABLE, table), attrString(NFTA_CHAIN_NAME, name)];
  if (base !== undefined) {
    attrs.push(attrNested(NFTA_CHAIN_HOOK, [attrBe32(NFTA_HOOK_HOOKNUM, base.hook), attrBe32(NFTA_HOOK_PRIORITY, base.priority)]));
    attrs.push(attrBe32(NFTA_CHAIN_POLICY, base.policy));
    attrs.push(attrString(NFTA_CHAIN_TYPE, base.type));
  }
  return { type: nftType(NFT_MSG_NEWCHAIN), flags: NLM_F_CREATE, payload: Buffer.concat([encodeNfgenmsg(family), ...attrs]) };
}

/** Appends a rule at the end of the chain. */
export function newRule(family: number, table: string, chain: string, exprs: NftExpr[]): NftMessage {
  const payload = Buffer.concat([
    encodeNfgenmsg(family),
    attrString(NFTA_RULE_TABLE, table),
    attrString(NFTA_RULE_CHAIN, chain),
    attrNested(NFTA_RULE_EXPRESSIONS, exprs.map(encodeExpr)),
  ]);
  return { type: nftType(NFT_MSG_NEWRULE), flags: NLM_F_CREATE | NLM_F_APPEND, payload };
}

export interface SetSpec {
  table: string;
  name: string;
  /** Transaction-local id: rules and elements in the same batch name the set by it too. */
  id: number;
  flags: number;
  keyType: number;
  keyLen: number;
  dataType?: number;
  dataLen?: number;
  /** nft's userdata TLVs (byte order of key and data), only so `nft list` prints the set. */
  userdata?: Buffer;
}

export function newSet(family: number, s: SetSpec): NftMessage {
  const attrs = [
    attrString(NFTA_SET_TABLE, s.table),
    attrString(NFTA_SET_NAME, s.name),
    attrBe32(NFTA_SET_FLAGS, s.flags),
    attrBe32(NFTA_SET_KEY_TYPE, s.keyType),
    attrBe32(NFTA_SET_KEY_LEN, s.keyLen),
  ];
  if (s.dataType !== undefined) attrs.push(attrBe32(NFTA_SET_DATA_TYPE, s.dataType));
  if (s.dataLen !== undefined) attrs.push(attrBe32(NFTA_SET_DATA_LEN, s.dataLen));
  attrs.push(attrBe32(NFTA_SET_ID, s.id));
  if (s.userdata !== undefined) attrs.push(attr(NFTA_SET_USERDATA, s.userdata));
  return { type: nftType(NFT_MSG_NEWSET), flags: NLM_F_CREATE, payload: Buffer.concat([encodeNfgenmsg(family), ...attrs]) };
}

export interface VerdictMapElement {
  key: Buffer;
  verdict: Verdict;
}

export function newVerdictMapElements(family: number, table: string, set: string, setId: number, elements: VerdictMapElement[]): NftMessage {
  const elems = elements.map((e) =>
    attrNested(NFTA_LIST_ELEM, [attrNested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, e.key)]), attrNested(NFTA_SET_ELEM_DATA, [encodeVerdict(e.verdict)])]),
  );
  const payload = Buffer.concat([
    encodeNfgenmsg(family),
    attrString(NFTA_SET_ELEM_LIST_TABLE, table),
    attrString(NFTA_SET_ELEM_LIST_SET, set),
    attrBe32(NFTA_SET_ELEM_LIST_SET_ID, setId),
    attrNested(NFTA_SET_ELEM_LIST_ELEMENTS, elems),
  ]);
  return { type: nftType(NFT_MSG_NEWSETELEM), flags: NLM_F_CREATE, payload };
}

/** An interface name as `meta iifname` loads it: NUL-padded to IFNAMSIZ. */
export function ifnameKey(name: string): Buffer {
  const raw = Buffer.from(name, 'utf8');
  if (raw.length >= IFNAMSIZ) throw new RangeError(`interface name ${name} is longer than ${IFNAMSIZ - 1} bytes`);
  const b = Buffer.alloc(IFNAMSIZ);
  raw.copy(b);
  return b;
}
