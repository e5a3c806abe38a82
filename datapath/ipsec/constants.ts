// What marks our IPsec state in the kernel, and Weave's parameters for it (weave net/ipsec).

/** Packet mark bit that selects our outbound xfrm policies (Weave's 0x20000/0x20000). */
export const IPSEC_MARK = { value: 0x20000, mask: 0x20000 } as const;

/** reqid on every SA and template we install. Weave uses 0; it is local to this kernel (never
 *  on the wire), and a distinct value lets a restarted daemon find the SAs a crashed one left
 *  without touching anyone else's. */
export const IPSEC_REQID = 0x7765;

export const ESP_AEAD = 'rfc4106(gcm(aes))';
/** AES-256 key + 4-byte salt. */
export const ESP_KEY_BYTES = 36;
export const ESP_ICV_BITS = 128;
export const ESP_REPLAY_WINDOW = 256;

/** The fastdp VXLAN port the policies select. */
export const FASTDP_UDP_PORT = 6784;
