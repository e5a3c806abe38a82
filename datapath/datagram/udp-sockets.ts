// The DatagramSockets the daemon hands the sleeve overlay: UdpSocket in one network namespace.
import { loadDataPlaneNative } from '../native/index.ts';
import type { DataPlaneNative } from '../native/index.ts';
import { formatIpv4 } from '../../common/ipv4.ts';
import type { DatagramSocket, DatagramSocketOptions, DatagramSockets, PathMtuProbe } from './contract.ts';
import { UdpSocket } from './udp-socket.ts';

export interface UdpSocketsOptions {
  /** Namespace (path) to open every socket in; default: the process's. */
  netns?: string;
  native?: DataPlaneNative;
  /** UDP GSO/GRO on every socket opened (DatagramSocketOptions.offloads), unless the opener says. */
  offloads?: boolean;
}

export class UdpSockets implements DatagramSockets {
  private readonly native: DataPlaneNative;

  constructor(private readonly opts: UdpSocketsOptions = {}) {
    this.native = opts.native ?? loadDataPlaneNative();
  }

  open(opts: DatagramSocketOptions): DatagramSocket {
    return UdpSocket.open({
      offloads: this.opts.offloads === true,
      ...opts,
      native: this.native,
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
    });
  }

  pathMtuProbe(ip: number, port: number): PathMtuProbe {
    // A connected socket that never sends: IP_MTU reads the kernel's PMTU for the route,
    // which EMSGSIZE and ICMP frag-needed messages update.
    const { native } = this;
    const sock = native.openUdp('0.0.0.0', 0, this.opts.netns);
    try {
      native.udpConnect(sock.fd, formatIpv4(ip), port);
    } catch (err) {
      native.closeFd(sock.fd);
      throw err;
    }
    return { mtu: () => native.udpGetMtu(sock.fd), close: () => native.closeFd(sock.fd) };
  }
}
