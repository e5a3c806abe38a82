// The lab's stand-in for the internet's DNS: an authoritative server for a few names, run by
// Lab.startUpstreamDns inside the lab's wire namespace, so that "external" names resolve in tests
// while nothing leaves the machine. UDP and TCP on port 53; A records from --zone, NXDOMAIN else.
//   node --import tsx lab-dns-upstream.ts --listen 198.18.0.254 --zone a.example=1.2.3.4,b.example=5.6.7.8 --ready FILE
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';

const { values } = parseArgs({ options: { listen: { type: 'string' }, zone: { type: 'string', default: '' }, ready: { type: 'string' }, port: { type: 'string', default: '53' } } });
if (!values.listen || !values.ready) throw new Error('usage: lab-dns-upstream.ts --listen IP --zone NAME=IP,... --ready FILE');
const zone = new Map<string, string>();
for (const pair of values.zone.split(',').filter((p) => p !== '')) {
  const [name, ip] = pair.split('=');
  if (!name || !ip) throw new Error(`bad zone entry ${pair}`);
  zone.set(name.toLowerCase().replace(/\.$/, ''), ip);
}
const port = Number(values.port);
let served = 0;

function answer(query: Buffer): Buffer | undefined {
  let q: dnsPacket.Packet;
  try {
    q = dnsPacket.decode(query);
  } catch {
    return undefined;
  }
  const question = q.questions?.[0];
  if (!question) return undefined;
  served++;
  const ip = zone.get(question.name.toLowerCase().replace(/\.$/, ''));
  const found = ip !== undefined && question.type === 'A';
  return dnsPacket.encode({
    type: 'response',
    id: q.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | (ip === undefined ? 3 : 0),
    questions: [question],
    answers: found ? [{ type: 'A', name: question.name, ttl: 60, data: ip }] : [],
  });
}

const udp = createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  const reply = answer(msg);
  if (reply) udp.send(reply, rinfo.port, rinfo.address);
});
const tcp = createServer((conn) => {
  let buf = Buffer.alloc(0);
  conn.on('error', () => undefined);
  conn.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const reply = answer(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
      if (reply) conn.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
    }
  });
});
udp.bind(port, values.listen, () => {
  tcp.listen(port, values.listen, () => {
    writeFileSync(values.ready!, `${process.pid}\n`);
  });
});
process.on('SIGTERM', () => {
  process.stderr.write(`lab upstream DNS served ${served} queries\n`);
  udp.close();
  tcp.close();
  process.exit(0);
});
