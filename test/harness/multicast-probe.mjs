// Multicast sender and receiver for the end-to-end tests, run with plain node inside a
// container's network namespace (busybox has no multicast tool). Plain JavaScript so that it
// starts in a tenth of the time tsx needs: every test starts several at once.
//
//   node multicast-probe.mjs recv GROUP PORT IFADDR SECONDS [READYFILE]
//     joins GROUP on the interface that has IFADDR, prints each datagram as a JSON line
//     {"seq":N,"from":"IP"}, exits 0 after SECONDS; writes READYFILE once it has joined, so the
//     test starts the sender only when every receiver listens.
//   node multicast-probe.mjs send GROUP PORT IFADDR COUNT
//     sends COUNT datagrams (payload: the sequence number) out of the interface that has IFADDR,
//     TTL 1, a few ms apart; prints {"sent":COUNT}.
//
// The interface is chosen by address rather than by route so that a network without the
// 224.0.0.0/4 route (works.weave.multicast=false) is exercised by the datapath, not by routing.
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { setTimeout } from 'node:timers';

const GAP_MS = 20;

function usage() {
  process.stderr.write('usage: multicast-probe.mjs recv GROUP PORT IFADDR SECONDS [READYFILE] | send GROUP PORT IFADDR COUNT\n');
  process.exit(2);
}

function positiveInt(s) {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) usage();
  return n;
}

const [mode, group, portArg, ifaddr, amount, readyFile] = process.argv.slice(2);
if (!group || !ifaddr || (mode !== 'recv' && mode !== 'send')) usage();
const port = positiveInt(portArg);
const fail = (err) => {
  process.stderr.write(`${mode}: ${err.stack ?? err}\n`);
  process.exit(1);
};

if (mode === 'recv') {
  const seconds = positiveInt(amount);
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  sock.on('error', fail);
  sock.on('message', (msg, rinfo) => {
    process.stdout.write(`${JSON.stringify({ seq: Number(msg.toString()), from: rinfo.address })}\n`);
  });
  // bound to the group, not the wildcard: only datagrams for this group count
  sock.bind(port, group, () => {
    sock.addMembership(group, ifaddr);
    if (readyFile) writeFileSync(readyFile, '');
    setTimeout(() => sock.close(() => process.exit(0)), seconds * 1000);
  });
} else {
  const count = positiveInt(amount);
  const sock = dgram.createSocket('udp4');
  sock.on('error', fail);
  sock.bind(0, ifaddr, () => {
    sock.setMulticastInterface(ifaddr);
    sock.setMulticastTTL(1);
    let seq = 0;
    const next = () => {
      if (seq === count) {
        process.stdout.write(`${JSON.stringify({ sent: count })}\n`);
        sock.close();
        return;
      }
      sock.send(String(seq++), port, group, (err) => {
        if (err) fail(err);
        else setTimeout(next, GAP_MS);
      });
    };
    next();
  });
}
