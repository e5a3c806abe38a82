// Errors with meaning for the connection maker (which of them are never retried).

import type { PeerName } from './contract.ts';

/** We dialled ourselves (e.g. a target that is one of our own addresses). Never retried. */
export class ConnectToSelfError extends Error {
  constructor() {
    super('cannot connect to ourself');
    this.name = 'ConnectToSelfError';
  }
}

/** Another peer uses our name with a different UID. Never retried. */
export class PeerNameCollisionError extends Error {
  constructor(
    readonly ourName: PeerName,
    readonly ourUid: bigint,
    readonly theirUid: bigint,
  ) {
    super(`Failed to connect: peer name collision: ${ourName} is used by another peer (UID ${theirUid}, ours ${ourUid})`);
    this.name = 'PeerNameCollisionError';
  }
}

/** The peer on the other end is one we are already connected to (our other connection won). */
export class DuplicateConnectionError extends Error {
  constructor(
    message: string,
    readonly peer: PeerName,
  ) {
    super(message);
    this.name = 'DuplicateConnectionError';
  }
}

export function isNeverRetried(err: unknown): boolean {
  return err instanceof ConnectToSelfError || err instanceof PeerNameCollisionError;
}
