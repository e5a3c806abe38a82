// XFRM (IPsec SAs and policies) over one NETLINK_XFRM socket, optionally in another netns.
// Hand-written like rtnetlink: no npm package speaks XFRM netlink without spawning `ip`.
import { NLM_F_DUMP } from '../constants.ts';
import type { NetlinkMessage } from '../message.ts';
import { NetlinkError } from '../netlink-error.ts';
import { NetlinkSocket } from '../socket.ts';
import type { NetlinkSocketOptions } from '../socket.ts';
import {
  NETLINK_XFRM,
  XFRM_MSG_ALLOCSPI,
  XFRM_MSG_DELPOLICY,
  XFRM_MSG_DELSA,
  XFRM_MSG_GETPOLICY,
  XFRM_MSG_GETSA,
  XFRM_MSG_NEWPOLICY,
  XFRM_MSG_NEWSA,
  XFRM_MSG_UPDPOLICY,
  XFRM_MSG_UPDSA,
} from './constants.ts';
import { decodePolicy, decodeSa, encodeAllocSpi, encodePolicy, encodePolicyId, encodeSa, encodeSaId } from './messages.ts';
import type { AllocSpiSpec, PolicyId, PolicyInfo, PolicySpec, SaId, SaInfo, SaSpec } from './messages.ts';

export class XfrmClient {
  private readonly sock: NetlinkSocket;

  private constructor(sock: NetlinkSocket) {
    this.sock = sock;
  }

  static open(opts: NetlinkSocketOptions = {}): XfrmClient {
    return new XfrmClient(NetlinkSocket.open(NETLINK_XFRM, opts));
  }

  close(): void {
    this.sock.close();
  }

  private req(type: number, flags: number, payload: Buffer, what: string): Promise<NetlinkMessage[]> {
    return this.sock.request(type, flags, payload, { describe: () => what });
  }

  /** Asks the kernel for an SPI unique for `dst` and returns it; the larval SA it creates
   *  expires after 30 s unless `updateSa` completes it. */
  async allocSpi(spec: AllocSpiSpec): Promise<number> {
    const replies = await this.req(XFRM_MSG_ALLOCSPI, 0, encodeAllocSpi(spec), `xfrm allocspi ${spec.src} -> ${spec.dst}`);
    const msg = replies.find((m) => m.type === XFRM_MSG_NEWSA);
    if (!msg) throw new Error(`xfrm allocspi ${spec.src} -> ${spec.dst}: the kernel answered without an SA`);
    return decodeSa(msg.payload).spi;
  }

  async addSa(spec: SaSpec): Promise<void> {
    await this.req(XFRM_MSG_NEWSA, 0, encodeSa(spec), `xfrm add SA ${spec.src} -> ${spec.dst} spi 0x${spec.spi.toString(16)}`);
  }

  /** Creates or replaces an SA (and completes one from allocSpi). */
  async updateSa(spec: SaSpec): Promise<void> {
    await this.req(XFRM_MSG_UPDSA, 0, encodeSa(spec), `xfrm update SA ${spec.src} -> ${spec.dst} spi 0x${spec.spi.toString(16)}`);
  }

  /** Deletes an SA; false if there was none (ESRCH). */
  async deleteSa(id: SaId): Promise<boolean> {
    try {
      await this.req(XFRM_MSG_DELSA, 0, encodeSaId(id), `xfrm delete SA ${id.src} -> ${id.dst} spi 0x${id.spi.toString(16)}`);
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'ESRCH') return false;
      throw err;
    }
  }

  async listSas(): Promise<SaInfo[]> {
    const replies = await this.req(XFRM_MSG_GETSA, NLM_F_DUMP, Buffer.alloc(0), 'xfrm list SAs');
    return replies.filter((m) => m.type === XFRM_MSG_NEWSA).map((m) => decodeSa(m.payload));
  }

  async addPolicy(spec: PolicySpec): Promise<void> {
    await this.req(XFRM_MSG_NEWPOLICY, 0, encodePolicy(spec), `xfrm add policy ${spec.selector.src} -> ${spec.selector.dst}`);
  }

  async updatePolicy(spec: PolicySpec): Promise<void> {
    await this.req(XFRM_MSG_UPDPOLICY, 0, encodePolicy(spec), `xfrm update policy ${spec.selector.src} -> ${spec.selector.dst}`);
  }

  /** Deletes a policy by selector, direction and mark; false if there was none (ENOENT). */
  async deletePolicy(id: PolicyId): Promise<boolean> {
    try {
      await this.req(XFRM_MSG_DELPOLICY, 0, encodePolicyId(id), `xfrm delete policy ${id.selector.src} -> ${id.selector.dst}`);
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'ENOENT') return false;
      throw err;
    }
  }

  async listPolicies(): Promise<PolicyInfo[]> {
    const replies = await this.req(XFRM_MSG_GETPOLICY, NLM_F_DUMP, Buffer.alloc(0), 'xfrm list policies');
    return replies.filter((m) => m.type === XFRM_MSG_NEWPOLICY).map((m) => decodePolicy(m.payload));
  }

  /**
   * Removes what an earlier run left: policies whose mark is exactly `mark` and SAs whose reqid
   * is `reqid` (the kernel's flush commands take neither, and would remove others' state).
   * Returns how many of each went.
   */
  async flushOurs(mark: { value: number; mask: number }, reqid: number): Promise<{ policies: number; sas: number }> {
    let policies = 0;
    for (const p of await this.listPolicies()) {
      if (p.mark?.value !== mark.value || p.mark.mask !== mark.mask) continue;
      if (await this.deletePolicy({ selector: p.selector, dir: p.dir, mark: p.mark })) policies++;
    }
    let sas = 0;
    for (const s of await this.listSas()) {
      if (s.reqid !== reqid) continue;
      if (await this.deleteSa({ src: s.src, dst: s.dst, spi: s.spi })) sas++;
    }
    return { policies, sas };
  }
}
