// rtnetlink operations over one NETLINK_ROUTE socket (optionally inside another netns).
import fs from 'node:fs';
import { NETLINK_ROUTE, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from '../constants.ts';
import type { NetlinkMessage } from '../message.ts';
import { NetlinkError } from '../netlink-error.ts';
import { NetlinkSocket } from '../socket.ts';
import type { NetlinkSocketOptions } from '../socket.ts';
import { decodeAddress, encodeAddress, encodeIfAddr } from './address.ts';
import { encodeBridgePortFlags } from './bridge-port.ts';
import type { BridgePortFlags } from './bridge-port.ts';
import type { Address, AddressOptions } from './address.ts';
import {
  AF_BRIDGE,
  AF_UNSPEC,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTM_SETLINK,
} from './constants.ts';
import {
  decodeLink,
  encodeIfInfo,
  encodeLinkSelector,
  encodeNewBridge,
  encodeNewVeth,
  encodeNewVxlan,
  encodeSetLink,
  encodeBridgeSettings,
} from './link.ts';
import type { BridgeSettings, CommonLinkOptions, Link, LinkChanges, VethPeerOptions, VxlanOptions } from './link.ts';
import { decodeNeighbour, encodeFdb, encodeNdMsg, encodeNeighbour } from './neighbour.ts';
import type { FdbSpec, Neighbour, NeighbourSpec } from './neighbour.ts';
import { decodeRoute, encodeRoute, encodeRtMsg } from './route.ts';
import type { Route, RouteSpec } from './route.ts';

/** A peer for createVeth. Its namespace is given by path (the client opens and closes the fd)
 *  or by an fd the caller owns. */
export interface VethPeerSpec extends Omit<VethPeerOptions, 'netnsFd'> {
  /** Namespace the peer is created in: a path (/run/netns/x, /proc/<pid>/ns/net) or an open fd. */
  netns?: string | number;
}

/** Runs `fn` with an fd for a namespace given by path (opened and closed here) or by fd. */
async function withNetnsFd<T>(netns: string | number, fn: (fd: number) => Promise<T>): Promise<T> {
  if (typeof netns === 'number') return fn(netns);
  const fd = fs.openSync(netns, 'r');
  try {
    return await fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class RtnetlinkClient {
  private readonly sock: NetlinkSocket;

  private constructor(sock: NetlinkSocket) {
    this.sock = sock;
  }

  static open(opts: NetlinkSocketOptions = {}): RtnetlinkClient {
    return new RtnetlinkClient(NetlinkSocket.open(NETLINK_ROUTE, opts));
  }

  close(): void {
    this.sock.close();
  }

  private req(type: number, flags: number, payload: Buffer, what: string): Promise<NetlinkMessage[]> {
    return this.sock.request(type, flags, payload, { describe: () => what });
  }

  // ---- links ----

  async createBridge(name: string, o: CommonLinkOptions = {}): Promise<void> {
    await this.req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, encodeNewBridge(name, o), `create bridge ${name}`);
  }

  async createVeth(name: string, o: CommonLinkOptions, peer: VethPeerSpec): Promise<void> {
    const { netns, ...rest } = peer;
    const send = async (peerOpts: VethPeerOptions): Promise<void> => {
      await this.req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, encodeNewVeth(name, o, peerOpts), `create veth ${name}/${peer.name}`);
    };
    if (netns === undefined) await send(rest);
    else await withNetnsFd(netns, (fd) => send({ ...rest, netnsFd: fd }));
  }

  async createVxlan(name: string, o: VxlanOptions): Promise<void> {
    await this.req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, encodeNewVxlan(name, o), `create vxlan ${name}`);
  }

  /** Deletes a link by name or index. Rejects with ENODEV if it does not exist. */
  async deleteLink(which: string | number): Promise<void> {
    await this.req(RTM_DELLINK, 0, encodeLinkSelector(which), `delete link ${which}`);
  }

  async setLink(which: string | number, changes: LinkChanges): Promise<void> {
    const index = await this.resolveIndex(which);
    await this.req(RTM_NEWLINK, 0, encodeSetLink(index, changes), `set link ${which}`);
  }

  async setUp(which: string | number, up = true): Promise<void> {
    await this.setLink(which, { up });
  }

  async setMaster(which: string | number, master: string | number | null): Promise<void> {
    const masterIndex = master === null ? null : await this.resolveIndex(master);
    await this.setLink(which, { master: masterIndex });
  }

  /** Moves a link into another namespace, given by path or by an open fd. */
  async moveToNetns(which: string | number, netns: string | number): Promise<void> {
    const index = await this.resolveIndex(which);
    await withNetnsFd(netns, (fd) => this.req(RTM_SETLINK, 0, encodeSetLink(index, { netnsFd: fd }), `move link ${which} to netns ${netns}`));
  }

  /** The link, or undefined if there is none by that name/index. */
  async getLink(which: string | number): Promise<Link | undefined> {
    try {
      const replies = await this.req(RTM_GETLINK, 0, encodeLinkSelector(which), `get link ${which}`);
      const msg = replies.find((m) => m.type === RTM_NEWLINK);
      return msg === undefined ? undefined : decodeLink(msg.payload);
    } catch (err) {
      if (NetlinkError.is(err, 'ENODEV')) return undefined;
      throw err;
    }
  }

  async listLinks(): Promise<Link[]> {
    const replies = await this.req(RTM_GETLINK, NLM_F_DUMP, encodeIfInfo(), 'list links');
    return replies.filter((m) => m.type === RTM_NEWLINK).map((m) => decodeLink(m.payload));
  }

  /** Bridge port flags of an enslaved link (`bridge link set dev X isolated on ...`). */
  async setBridge(which: string | number, settings: BridgeSettings): Promise<void> {
    const index = await this.resolveIndex(which);
    await this.req(RTM_NEWLINK, 0, encodeBridgeSettings(index, settings), `bridge settings of ${which}`);
  }

  async setBridgePortFlags(which: string | number, flags: BridgePortFlags): Promise<void> {
    const index = await this.resolveIndex(which);
    await this.req(RTM_SETLINK, 0, encodeBridgePortFlags(index, flags), `bridge port flags of ${which}`);
  }

  private async resolveIndex(which: string | number): Promise<number> {
    if (typeof which === 'number') return which;
    const link = await this.getLink(which);
    if (link === undefined) throw new NetlinkError(19, `link ${which}`, 'no such device');
    return link.index;
  }

  // ---- addresses ----

  async addAddress(link: string | number, cidr: string, o: AddressOptions & { replace?: boolean } = {}): Promise<void> {
    const index = await this.resolveIndex(link);
    const flags = NLM_F_CREATE | (o.replace === true ? NLM_F_REPLACE : NLM_F_EXCL);
    await this.req(RTM_NEWADDR, flags, encodeAddress(index, cidr, o), `add address ${cidr} to ${link}`);
  }

  async deleteAddress(link: string | number, cidr: string): Promise<void> {
    const index = await this.resolveIndex(link);
    await this.req(RTM_DELADDR, 0, encodeAddress(index, cidr, { broadcast: false }), `delete address ${cidr} from ${link}`);
  }

  /** Addresses of all links, or of one link. */
  async listAddresses(link?: string | number): Promise<Address[]> {
    const index = link === undefined ? undefined : await this.resolveIndex(link);
    const replies = await this.req(RTM_GETADDR, NLM_F_DUMP, encodeIfAddr(AF_UNSPEC, 0, 0), 'list addresses');
    const all = replies.filter((m) => m.type === RTM_NEWADDR).map((m) => decodeAddress(m.payload));
    return index === undefined ? all : all.filter((a) => a.index === index);
  }

  // ---- routes ----

  async addRoute(spec: RouteSpec, o: { replace?: boolean } = {}): Promise<void> {
    const flags = NLM_F_CREATE | (o.replace === true ? NLM_F_REPLACE : NLM_F_EXCL);
    await this.req(RTM_NEWROUTE, flags, encodeRoute(spec), `add route ${spec.dst}`);
  }

  async deleteRoute(spec: RouteSpec): Promise<void> {
    await this.req(RTM_DELROUTE, 0, encodeRoute(spec), `delete route ${spec.dst}`);
  }

  /** Routes of the given family (default: all), all tables. */
  async listRoutes(family = AF_UNSPEC): Promise<Route[]> {
    const hdr = encodeRtMsg({ family, dstLen: 0, srcLen: 0, tos: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0 });
    const replies = await this.req(RTM_GETROUTE, NLM_F_DUMP, hdr, 'list routes');
    return replies.filter((m) => m.type === RTM_NEWROUTE).map((m) => decodeRoute(m.payload));
  }

  // ---- neighbours and FDB ----

  async addNeighbour(spec: NeighbourSpec, o: { replace?: boolean } = {}): Promise<void> {
    const flags = NLM_F_CREATE | (o.replace === true ? NLM_F_REPLACE : NLM_F_EXCL);
    await this.req(RTM_NEWNEIGH, flags, encodeNeighbour(spec), `add neighbour ${spec.ip}`);
  }

  async deleteNeighbour(spec: NeighbourSpec): Promise<void> {
    await this.req(RTM_DELNEIGH, 0, encodeNeighbour(spec), `delete neighbour ${spec.ip}`);
  }

  async listNeighbours(family = AF_UNSPEC): Promise<Neighbour[]> {
    const hdr = encodeNdMsg({ family, index: 0, state: 0, flags: 0, type: 0 });
    const replies = await this.req(RTM_GETNEIGH, NLM_F_DUMP, hdr, 'list neighbours');
    return replies.filter((m) => m.type === RTM_NEWNEIGH).map((m) => decodeNeighbour(m.payload));
  }

  /** Adds an FDB entry (`bridge fdb add MAC dev X dst IP self permanent`). Use
   *  `{ append: true }` for several all-zero-MAC flood entries on one vxlan device. */
  async addFdb(spec: FdbSpec, o: { replace?: boolean; append?: boolean } = {}): Promise<void> {
    let flags = NLM_F_CREATE;
    if (o.append === true) flags |= NLM_F_APPEND;
    else flags |= o.replace === true ? NLM_F_REPLACE : NLM_F_EXCL;
    await this.req(RTM_NEWNEIGH, flags, encodeFdb(spec), `add fdb ${spec.mac} on ${spec.index}`);
  }

  async deleteFdb(spec: FdbSpec): Promise<void> {
    await this.req(RTM_DELNEIGH, 0, encodeFdb(spec), `delete fdb ${spec.mac} on ${spec.index}`);
  }

  /** FDB entries of all bridge ports and vxlan devices. */
  async listFdb(): Promise<Neighbour[]> {
    return this.listNeighbours(AF_BRIDGE);
  }
}
