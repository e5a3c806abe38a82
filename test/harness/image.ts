import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runCommand, runCommandSync } from './run-command.ts';

/** Project-owned cache: the tarball is built once and reused by every lab of every run. */
export const IMAGE_CACHE_DIR = '/var/cache/weave-test';
export const IMAGE_TARBALL = join(IMAGE_CACHE_DIR, 'bb.tar');
export const IMAGE_NAME = 'bb:latest';

const BUSYBOX = '/bin/busybox';
const IPERF3 = '/usr/bin/iperf3';

function mtimeMs(path: string): number {
  return statSync(path).mtimeMs;
}

function tarballFresh(): boolean {
  if (!existsSync(IMAGE_TARBALL)) return false;
  const t = mtimeMs(IMAGE_TARBALL);
  return t > mtimeMs(BUSYBOX) && t > mtimeMs(IPERF3) && statSync(IMAGE_TARBALL).size > 0;
}

/** busybox-static with all its applets, plus iperf3 and the shared objects it links against. */
function buildRootfs(root: string): void {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'proc', 'sys', 'dev', 'var/run', 'tmp']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  const applets = runCommandSync(BUSYBOX, ['--list']).stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  for (const a of applets) {
    if (a !== 'busybox') symlinkSync('busybox', join(root, 'bin', a));
  }
  copyFileSync(IPERF3, join(root, 'usr/bin/iperf3'));
  chmodSync(join(root, 'usr/bin/iperf3'), 0o755);
  const libs = runCommandSync('ldd', [IPERF3]).stdout.match(/\/[^\s)]+/g) ?? [];
  for (const lib of libs) {
    mkdirSync(join(root, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(root, lib));
  }
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** Returns the path of a tarball for `docker import`, building it when missing or older than
 *  the binaries it packs. Concurrent builders each use their own temp names; the rename makes
 *  whichever finishes last win with an identical result. */
export function ensureImageTarball(): string {
  if (tarballFresh()) return IMAGE_TARBALL;
  mkdirSync(IMAGE_CACHE_DIR, { recursive: true });
  const tag = `${process.pid}-${Date.now()}`;
  const root = join(IMAGE_CACHE_DIR, `rootfs-${tag}`);
  const tmpTar = `${IMAGE_TARBALL}.${tag}.tmp`;
  try {
    buildRootfs(root);
    runCommandSync('tar', ['-C', root, '--numeric-owner', '-cf', tmpTar, '.']);
    renameSync(tmpTar, IMAGE_TARBALL);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(tmpTar, { force: true });
  }
  return IMAGE_TARBALL;
}

/** `docker import` keeps no config, so PATH and CMD are set here. */
export async function importImage(dockerSocket: string, tarball: string): Promise<void> {
  await runCommand('docker', [
    '-H', `unix://${dockerSocket}`, 'import',
    '-c', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '-c', 'CMD ["/bin/sh"]',
    '-m', 'weave test image: busybox-static + iperf3',
    tarball, IMAGE_NAME,
  ], { timeoutMs: 60_000 });
}
