// Text <-> bytes for MAC and IP addresses as they appear in netlink attributes.
import net from 'node:net';
import { AF_INET, AF_INET6 } from './rtnetlink/constants.ts';

export function macToBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new Error(`invalid MAC address "${mac}"`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function bytesToMac(buf: Buffer): string {
  return [...buf].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function ipFamily(ip: string): number {
  const v = net.isIP(ip);
  if (v === 4) return AF_INET;
  if (v === 6) return AF_INET6;
  throw new Error(`invalid IP address "${ip}"`);
}

export function ipToBytes(ip: string): Buffer {
  const v = net.isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map((p) => Number(p)));
  if (v === 6) {
    const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
    const words = (s: string): string[] => (s === '' ? [] : s.split(':'));
    let h = words(head);
    let t = words(tail);
    // an embedded IPv4 tail (::ffff:1.2.3.4) is two 16-bit words
    const expand = (ws: string[]): string[] =>
      ws.flatMap((w) => {
        if (!w.includes('.')) return [w];
        const b = ipToBytes(w);
        return [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)];
      });
    h = expand(h);
    t = expand(t);
    const fill = ip.includes('::') ? Array<string>(8 - h.length - t.length).fill('0') : [];
    const all = [...h, ...fill, ...t];
    const out = Buffer.alloc(16);
    all.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
    return out;
  }
  throw new Error(`invalid IP address "${ip}"`);
}

export function bytesToIp(buf: Buffer): string {
  if (buf.length === 4) return [...buf].join('.');
  if (buf.length === 16) {
    const words: string[] = [];
    for (let i = 0; i < 16; i += 2) words.push(buf.readUInt16BE(i).toString(16));
    // Let the URL parser produce the canonical compressed form.
    return new URL(`http://[${words.join(':')}]/`).hostname.slice(1, -1);
  }
  throw new Error(`cannot format ${buf.length}-byte address`);
}

export interface Cidr {
  address: string;
  prefixLength: number;
  family: number;
}

export function parseCidr(cidr: string): Cidr {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = ipFamily(address);
  const max = family === AF_INET ? 32 : 128;
  const prefixLength = slash < 0 ? max : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > max) {
    throw new Error(`invalid prefix length in "${cidr}"`);
  }
  return { address, prefixLength, family };
}
