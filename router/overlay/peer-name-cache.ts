// PeerName <-> 48-bit number for the hot path: sleeve frames carry peer names as 6 raw bytes,
// and turning those into a "ce:31:..." string for every frame would allocate. Names are read
// as a number (Buffer.readUIntBE allocates nothing) and mapped through this cache.
import type { PeerName } from '../mesh/contract.ts';
import { formatPeerName, peerNameToBytes } from '../mesh/peer-name.ts';

export const NAME_SIZE = 6;

export function peerNameToNumber(name: PeerName): number {
  return peerNameToBytes(name).readUIntBE(0, NAME_SIZE);
}

export class PeerNameCache {
  private readonly byNumber = new Map<number, PeerName>();
  private readonly byName = new Map<PeerName, number>();

  /** The name for 6 bytes at buf[off]. */
  read(buf: Buffer, off: number): PeerName {
    const n = buf.readUIntBE(off, NAME_SIZE);
    let name = this.byNumber.get(n);
    if (name === undefined) {
      name = formatPeerName(buf.subarray(off, off + NAME_SIZE));
      this.remember(name, n);
    }
    return name;
  }

  /** The name for a 48-bit number (as read by readUIntBE). */
  fromNumber(n: number): PeerName {
    let name = this.byNumber.get(n);
    if (name === undefined) {
      const b = Buffer.alloc(NAME_SIZE);
      b.writeUIntBE(n, 0, NAME_SIZE);
      name = formatPeerName(b);
      this.remember(name, n);
    }
    return name;
  }

  toNumber(name: PeerName): number {
    let n = this.byName.get(name);
    if (n === undefined) {
      n = peerNameToNumber(name);
      this.remember(name, n);
    }
    return n;
  }

  /** Forget a peer (e.g. removed as unreachable) so the cache cannot grow without bound. */
  forget(name: PeerName): void {
    const n = this.byName.get(name);
    if (n === undefined) return;
    this.byName.delete(name);
    this.byNumber.delete(n);
  }

  private remember(name: PeerName, n: number): void {
    this.byNumber.set(n, name);
    this.byName.set(name, n);
  }
}
