// XFRM netlink (NETLINK_XFRM) numbers from <linux/xfrm.h>.
export const NETLINK_XFRM = 6;

export const XFRM_MSG_NEWSA = 0x10;
export const XFRM_MSG_DELSA = 0x11;
export const XFRM_MSG_GETSA = 0x12;
export const XFRM_MSG_NEWPOLICY = 0x13;
export const XFRM_MSG_DELPOLICY = 0x14;
export const XFRM_MSG_GETPOLICY = 0x15;
export const XFRM_MSG_ALLOCSPI = 0x16;
export const XFRM_MSG_UPDPOLICY = 0x19;
export const XFRM_MSG_UPDSA = 0x1a;
export const XFRM_MSG_FLUSHSA = 0x1c;
export const XFRM_MSG_FLUSHPOLICY = 0x1d;

export const XFRMA_TMPL = 5;
export const XFRMA_REPLAY_VAL = 10;
export const XFRMA_SRCADDR = 13;
export const XFRMA_POLICY_TYPE = 16;
export const XFRMA_ALG_AEAD = 18;
export const XFRMA_MARK = 21;
export const XFRMA_REPLAY_ESN_VAL = 23;

export const XFRM_MODE_TRANSPORT = 0;
export const XFRM_POLICY_IN = 0;
export const XFRM_POLICY_OUT = 1;
export const XFRM_POLICY_FWD = 2;
export const XFRM_POLICY_ALLOW = 0;

/** xfrm_usersa_info.flags */
export const XFRM_STATE_ESN = 128;

export const IPPROTO_UDP = 17;
export const IPPROTO_ESP = 50;

/** "No limit" in xfrm_lifetime_cfg. */
export const XFRM_INF = 0xffffffffffffffffn;

/** Struct sizes (x86-64 and every other Linux ABI: all members are naturally aligned). */
export const SELECTOR_LEN = 56;
export const USERSA_INFO_LEN = 224;
export const USERSPI_INFO_LEN = 232;
export const USERSA_ID_LEN = 24;
export const USERPOLICY_INFO_LEN = 168;
export const USERPOLICY_ID_LEN = 64;
export const USER_TMPL_LEN = 64;
export const ALGO_AEAD_NAME_LEN = 64;
