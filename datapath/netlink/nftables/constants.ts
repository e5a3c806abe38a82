// nf_tables netlink numbers (linux/netfilter/nf_tables.h, nfnetlink.h, netfilter.h). Only what
// this project uses.

export const NFNL_SUBSYS_NFTABLES = 10;
/** Batch framing: every nf_tables change is a transaction between these two messages. */
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
export const NFNETLINK_V0 = 0;

export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFT_MSG_DELTABLE = 2;
export const NFT_MSG_NEWCHAIN = 3;
export const NFT_MSG_NEWRULE = 6;
export const NFT_MSG_NEWSET = 9;
export const NFT_MSG_NEWSETELEM = 12;

export const NFPROTO_BRIDGE = 7;
export const NF_BR_FORWARD = 2;

export const NFTA_TABLE_NAME = 1;

export const NFTA_CHAIN_TABLE = 1;
export const NFTA_CHAIN_NAME = 3;
export const NFTA_CHAIN_HOOK = 4;
export const NFTA_CHAIN_POLICY = 5;
export const NFTA_CHAIN_TYPE = 7;
export const NFTA_HOOK_HOOKNUM = 1;
export const NFTA_HOOK_PRIORITY = 2;

export const NFTA_RULE_TABLE = 1;
export const NFTA_RULE_CHAIN = 2;
export const NFTA_RULE_EXPRESSIONS = 4;
export const NFTA_LIST_ELEM = 1;
export const NFTA_EXPR_NAME = 1;
export const NFTA_EXPR_DATA = 2;

export const NFTA_SET_TABLE = 1;
export const NFTA_SET_NAME = 2;
export const NFTA_SET_FLAGS = 3;
export const NFTA_SET_KEY_TYPE = 4;
export const NFTA_SET_KEY_LEN = 5;
export const NFTA_SET_DATA_TYPE = 6;
export const NFTA_SET_DATA_LEN = 7;
export const NFTA_SET_ID = 10;
export const NFTA_SET_USERDATA = 13;
export const NFT_SET_MAP = 0x8;

export const NFTA_SET_ELEM_LIST_TABLE = 1;
export const NFTA_SET_ELEM_LIST_SET = 2;
export const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
export const NFTA_SET_ELEM_LIST_SET_ID = 4;
export const NFTA_SET_ELEM_KEY = 1;
export const NFTA_SET_ELEM_DATA = 2;

export const NFTA_DATA_VALUE = 1;
export const NFTA_DATA_VERDICT = 2;
export const NFTA_VERDICT_CODE = 1;
export const NFTA_VERDICT_CHAIN = 2;
/** Set data type of verdict maps (kernel-side constant, not a userspace type id). */
export const NFT_DATA_VERDICT = 0xffffff00;

export const NFT_REG_VERDICT = 0;
export const NFT_REG_1 = 1;

export const NFTA_META_DREG = 1;
export const NFTA_META_KEY = 2;
export const NFT_META_PROTOCOL = 1;
export const NFT_META_IIFNAME = 6;
export const NFT_META_OIFNAME = 7;
export const NFTA_META_SREG = 3;
export const NFT_META_MARK = 3;
export const NFT_META_L4PROTO = 16;
/** Whether the packet came through IPsec (has a secpath): nft's `meta ipsec`. */
export const NFT_META_SECPATH = 25;

export const NFTA_RT_DREG = 1;
export const NFTA_RT_KEY = 2;
/** Whether the route is an xfrm bundle (the packet will be transformed): nft's `rt ipsec`. */
export const NFT_RT_XFRM = 4;

export const NFPROTO_IPV4 = 2;
export const NF_INET_LOCAL_IN = 1;
export const NF_INET_LOCAL_OUT = 3;
export const NFT_PAYLOAD_TRANSPORT_HEADER = 2;

export const NFTA_PAYLOAD_DREG = 1;
export const NFTA_PAYLOAD_BASE = 2;
export const NFTA_PAYLOAD_OFFSET = 3;
export const NFTA_PAYLOAD_LEN = 4;
export const NFT_PAYLOAD_NETWORK_HEADER = 1;

export const NFTA_BITWISE_SREG = 1;
export const NFTA_BITWISE_DREG = 2;
export const NFTA_BITWISE_LEN = 3;
export const NFTA_BITWISE_MASK = 4;
export const NFTA_BITWISE_XOR = 5;
export const NFTA_BITWISE_OP = 6;
export const NFT_BITWISE_MASK_XOR = 0;

export const NFTA_CMP_SREG = 1;
export const NFTA_CMP_OP = 2;
export const NFTA_CMP_DATA = 3;
export const NFT_CMP_EQ = 0;
export const NFT_CMP_NEQ = 1;

export const NFTA_IMMEDIATE_DREG = 1;
export const NFTA_IMMEDIATE_DATA = 2;

export const NFTA_LOOKUP_SET = 1;
export const NFTA_LOOKUP_SREG = 2;
export const NFTA_LOOKUP_DREG = 3;
export const NFTA_LOOKUP_SET_ID = 4;

/** Verdict codes (signed, sent as big-endian u32). */
export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NFT_JUMP = -3;
export const NFT_RETURN = -5;

/** nft's own type ids, kept in NFTA_SET_KEY_TYPE only so `nft list` can print our sets. */
export const NFT_USERSPACE_TYPE_IFNAME = 41;
export const IFNAMSIZ = 16;
