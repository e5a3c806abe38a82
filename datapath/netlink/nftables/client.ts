// Sends nf_tables transactions over a NETLINK_NETFILTER socket. Only writes: the kernel's state
// is rebuilt whole by each transaction, so nothing needs to be read back.
import { NETLINK_NETFILTER } from '../constants.ts';
import { NetlinkSocket, type NetlinkSocketOptions } from '../socket.ts';
import { batchBegin, batchEnd, type NftMessage } from './messages.ts';

export class NftablesClient {
  private constructor(private readonly sock: NetlinkSocket) {}

  static open(opts: NetlinkSocketOptions = {}): NftablesClient {
    return new NftablesClient(NetlinkSocket.open(NETLINK_NETFILTER, opts));
  }

  close(): void {
    this.sock.close();
  }

  /** Applies `messages` as one transaction: all of them or, on any error, none. */
  async commit(messages: NftMessage[], what = 'nftables transaction'): Promise<void> {
    const framed = [batchBegin(), ...messages, batchEnd()].map((m, i, all) => ({ ...m, ack: i > 0 && i < all.length - 1 }));
    await this.sock.requestBatch(framed, { describe: () => what });
  }
}
