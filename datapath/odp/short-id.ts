// Default short peer id for the ODP fast path when the mesh does not supply one: 12 bits
// derived from the peer name. Weave's mesh assigns short ids and resolves collisions; a caller
// that has them passes its own mapping instead.
import crypto from 'node:crypto';
import type { PeerName } from '../../common/peer-identity.ts';

export function shortIdFromName(peer: PeerName): number {
  return crypto.createHash('sha256').update(peer).digest().readUInt16BE(0) & 0xfff;
}
