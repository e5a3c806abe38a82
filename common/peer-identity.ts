// Identity types shared by the router, the datapath and the services over the mesh. They live
// below all of them so that no layer imports another's contract just to name a peer.

/** 48-bit peer name in canonical lower-case MAC form, e.g. "ce:31:e0:06:45:1a". Strings keep map
 *  keys and logs simple; conversions to the wire forms live in router/mesh/peer-name.ts. */
export type PeerName = string;

/** 12-bit peer id the mesh assigns (Weave's short peer id); the fast path packs two of them
 *  into a VXLAN VNI. */
export type ShortId = number;
