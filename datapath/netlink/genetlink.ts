// Generic netlink: struct genlmsghdr, the nlctrl controller's family lookup, and a client that
// sends commands to a family by id. The OVS families (ovs_datapath, ovs_vport, ...) build on it.
import { AttrSet, attrString } from './attributes.ts';
import { NETLINK_GENERIC, NLM_F_DUMP } from './constants.ts';
import type { NetlinkMessage } from './message.ts';
import { NetlinkError } from './netlink-error.ts';
import { NetlinkSocket } from './socket.ts';
import type { NetlinkSocketOptions, RequestOptions } from './socket.ts';

export const GENL_HDRLEN = 4;
export const GENL_ID_CTRL = 0x10;

export const CTRL_CMD_NEWFAMILY = 1;
export const CTRL_CMD_GETFAMILY = 3;

export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
export const CTRL_ATTR_OPS = 6;
export const CTRL_ATTR_MCAST_GROUPS = 7;

export const CTRL_ATTR_OP_ID = 1;
export const CTRL_ATTR_OP_FLAGS = 2;
export const CTRL_ATTR_MCAST_GRP_NAME = 1;
export const CTRL_ATTR_MCAST_GRP_ID = 2;

export interface GenlHeader {
  cmd: number;
  version: number;
}

export function encodeGenlHeader(h: GenlHeader): Buffer {
  const b = Buffer.alloc(GENL_HDRLEN);
  b.writeUInt8(h.cmd, 0);
  b.writeUInt8(h.version, 1);
  return b;
}

export function decodeGenlHeader(payload: Buffer): GenlHeader {
  if (payload.length < GENL_HDRLEN) throw new Error(`short genlmsghdr (${payload.length} bytes)`);
  return { cmd: payload.readUInt8(0), version: payload.readUInt8(1) };
}

export interface GenlFamily {
  id: number;
  name: string;
  version: number;
  /** Size of the family's own header after genlmsghdr (OVS: 4, struct ovs_header). */
  hdrSize: number;
  maxAttr: number;
  /** Command ids the family supports, with their GENL_* flags. */
  ops: { id: number; flags: number }[];
  /** Multicast group name -> group id (for NETLINK_ADD_MEMBERSHIP). */
  mcastGroups: Map<string, number>;
}

/** Payload of CTRL_CMD_GETFAMILY by name (`genl ctrl get name X`). */
export function encodeGetFamily(name: string, version = 1): Buffer {
  return Buffer.concat([encodeGenlHeader({ cmd: CTRL_CMD_GETFAMILY, version }), attrString(CTRL_ATTR_FAMILY_NAME, name)]);
}

/** Decodes a CTRL_CMD_NEWFAMILY reply. */
export function decodeFamily(payload: Buffer): GenlFamily {
  const attrs = new AttrSet(payload.subarray(GENL_HDRLEN));
  const family: GenlFamily = {
    id: attrs.u16(CTRL_ATTR_FAMILY_ID) ?? 0,
    name: attrs.str(CTRL_ATTR_FAMILY_NAME) ?? '',
    version: attrs.u32(CTRL_ATTR_VERSION) ?? 0,
    hdrSize: attrs.u32(CTRL_ATTR_HDRSIZE) ?? 0,
    maxAttr: attrs.u32(CTRL_ATTR_MAXATTR) ?? 0,
    ops: [],
    mcastGroups: new Map(),
  };
  // OPS and MCAST_GROUPS are arrays: nests indexed 1..n, each holding the element's attributes.
  for (const op of attrs.nested(CTRL_ATTR_OPS)?.list ?? []) {
    const o = new AttrSet(op.data);
    family.ops.push({ id: o.u32(CTRL_ATTR_OP_ID) ?? 0, flags: o.u32(CTRL_ATTR_OP_FLAGS) ?? 0 });
  }
  for (const grp of attrs.nested(CTRL_ATTR_MCAST_GROUPS)?.list ?? []) {
    const g = new AttrSet(grp.data);
    const name = g.str(CTRL_ATTR_MCAST_GRP_NAME);
    const id = g.u32(CTRL_ATTR_MCAST_GRP_ID);
    if (name !== undefined && id !== undefined) family.mcastGroups.set(name, id);
  }
  return family;
}

export interface GenlReply extends GenlHeader {
  /** Attributes after genlmsghdr (and after the family header, if hdrSize > 0). */
  attrs: AttrSet;
  /** The family-specific header (hdrSize bytes), if any. */
  familyHeader: Buffer;
  message: NetlinkMessage;
}

export class GenetlinkClient {
  private readonly sock: NetlinkSocket;

  private constructor(sock: NetlinkSocket) {
    this.sock = sock;
  }

  static open(opts: NetlinkSocketOptions = {}): GenetlinkClient {
    return new GenetlinkClient(NetlinkSocket.open(NETLINK_GENERIC, opts));
  }

  get socket(): NetlinkSocket {
    return this.sock;
  }

  close(): void {
    this.sock.close();
  }

  /** Looks a family up by name; undefined when this kernel does not have it. */
  async family(name: string): Promise<GenlFamily | undefined> {
    try {
      const replies = await this.sock.request(GENL_ID_CTRL, 0, encodeGetFamily(name), {
        describe: () => `genetlink family ${name}`,
      });
      const msg = replies.find((m) => m.type === GENL_ID_CTRL);
      return msg === undefined ? undefined : decodeFamily(msg.payload);
    } catch (err) {
      if (NetlinkError.is(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async listFamilies(): Promise<GenlFamily[]> {
    const replies = await this.sock.request(GENL_ID_CTRL, NLM_F_DUMP, encodeGenlHeader({ cmd: CTRL_CMD_GETFAMILY, version: 1 }), {
      describe: () => 'list genetlink families',
    });
    return replies.filter((m) => m.type === GENL_ID_CTRL).map((m) => decodeFamily(m.payload));
  }

  /** Sends a command to a family and decodes the replies' generic headers. */
  async request(
    family: Pick<GenlFamily, 'id' | 'version' | 'hdrSize'>,
    cmd: number,
    flags: number,
    body: Buffer,
    opts: RequestOptions & { describe?: () => string } = {},
  ): Promise<GenlReply[]> {
    const payload = Buffer.concat([encodeGenlHeader({ cmd, version: family.version }), body]);
    const replies = await this.sock.request(family.id, flags, payload, opts);
    return replies
      .filter((m) => m.type === family.id)
      .map((m) => {
        const h = decodeGenlHeader(m.payload);
        const start = GENL_HDRLEN + family.hdrSize;
        return { ...h, familyHeader: m.payload.subarray(GENL_HDRLEN, start), attrs: new AttrSet(m.payload.subarray(start)), message: m };
      });
  }
}

