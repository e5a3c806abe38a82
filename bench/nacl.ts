// NaCl on our hot paths, sodium-native (libsodium, what the product uses) beside tweetnacl
// (pure JS, the baseline, a devDependency kept only for this comparison), in the same run:
// secretbox seal+open of sleeve-sized packets (every encrypted sleeve packet pays it) and the
// per-connection key agreement (box.before: X25519 then HSalsa20).
//   npx tsx bench/nacl.ts [--seconds N]
// Prints numbers; no pass/fail. Decided issue 10: keep the faster library, remove the other.
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import nacl from 'tweetnacl';
import { boxBeforeNm, generateKeyPair } from '../router/mesh/session-crypto.ts';

interface Secretbox {
  crypto_secretbox_easy(c: Buffer, m: Buffer, n: Buffer, k: Buffer): void;
  crypto_secretbox_open_easy(m: Buffer, c: Buffer, n: Buffer, k: Buffer): boolean;
}
const sodium = createRequire(import.meta.url)('sodium-native') as Secretbox;

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error('usage: nacl.ts [--seconds N>0]');

/** Runs `op` in rounds for `seconds` and returns operations per second. */
function rate(op: () => void): number {
  for (let i = 0; i < 200; i++) op(); // warm up the JIT
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) op();
    n += 100;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const key = Buffer.alloc(32, 7);
const nonce = Buffer.alloc(24, 1);
const rows: string[][] = [['operation', 'sodium-native', 'tweetnacl', 'ratio']];
for (const size of [64, 1400, 8192]) {
  const msg = Buffer.alloc(size, 0xab);
  const sealed = Buffer.alloc(size + 16);
  const opened = Buffer.alloc(size);
  const native = rate(() => {
    sodium.crypto_secretbox_easy(sealed, msg, nonce, key);
    if (!sodium.crypto_secretbox_open_easy(opened, sealed, nonce, key)) throw new Error('open failed');
  });
  const js = rate(() => {
    const box = nacl.secretbox(msg, nonce, key);
    if (nacl.secretbox.open(box, nonce, key) === null) throw new Error('open failed');
  });
  const mbps = (r: number): string => `${((r * size * 8) / 1e6).toFixed(0)} Mbit/s`;
  rows.push([`secretbox seal+open ${size} B`, `${Math.round(native)}/s (${mbps(native)})`, `${Math.round(js)}/s (${mbps(js)})`, (native / js).toFixed(1)]);
}
const a = generateKeyPair();
const b = generateKeyPair();
const agreeNative = rate(() => boxBeforeNm(b.publicKey, a.secretKey));
const agreeJs = rate(() => nacl.box.before(b.publicKey, a.secretKey));
rows.push(['box.before (key agreement)', `${Math.round(agreeNative)}/s`, `${Math.round(agreeJs)}/s`, (agreeNative / agreeJs).toFixed(1)]);

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
process.stdout.write(`${new Date().toISOString()}  load ${loadavg().map((l) => l.toFixed(2)).join(' ')}  ${seconds} s per cell\n`);
for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
