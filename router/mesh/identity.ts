// Building our LocalIdentity at start: the persisted name plus a fresh UID and short ID.

import { hostname } from 'node:os';
import type { LocalIdentity } from './contract.ts';
import type { RandomBytes } from './peer-name.ts';
import { randomShortId, randomUid, resolvePeerName } from './peer-name.ts';
import type { ResolvePeerNameOptions } from './peer-name.ts';

export interface IdentityOptions extends ResolvePeerNameOptions {
  /** `--nickname`; default the host name. */
  nickname?: string;
  random?: () => number;
  randomBytes?: RandomBytes;
}

export async function createLocalIdentity(opts: IdentityOptions): Promise<LocalIdentity> {
  const { name } = await resolvePeerName(opts);
  return {
    name,
    nickname: opts.nickname ?? hostname(),
    uid: randomUid(opts.randomBytes),
    shortId: randomShortId(opts.random),
  };
}
