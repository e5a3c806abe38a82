// The features map each side sends first on a connection (Weave's makeFeatures/parseFeatures):
// a gob map[string]string carrying identity and capabilities.
import { gob, gobDecode, gobEncode } from '../gob/index.ts';
import type { LocalIdentity, RemoteIdentity } from './contract.ts';
import { peerNameFromFeature } from './peer-name-wire.ts';

export const PEER_NAME_FLAVOUR = 'mac';
export const REQUIRED_FEATURES = ['PeerNameFlavour', 'Name', 'NickName', 'UID', 'ConnID'] as const;
const SHORT_ID_BITS = 12;

export const featuresType = gob.map(gob.string, gob.string);

export function makeFeatures(local: LocalIdentity, connId: bigint, extra: Record<string, string> = {}): Record<string, string> {
  // Identity keys are ours to set; extras (Trusted, Overlays, ...) cannot override them.
  return {
    ...extra,
    PeerNameFlavour: PEER_NAME_FLAVOUR,
    Name: local.name,
    NickName: local.nickname,
    ShortID: String(local.shortId),
    UID: local.uid.toString(),
    ConnID: connId.toString(),
  };
}

export function encodeFeatures(features: Record<string, string>): Buffer {
  return gobEncode(featuresType, features);
}

export function decodeFeatures(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(gobDecode(featuresType, bytes));
}

/** Go's strconv.ParseUint(s, 10, bits): decimal digits only, within range. */
function parseDecimal(key: string, text: string, bits: number): bigint {
  if (!/^[0-9]+$/.test(text)) throw new Error(`feature ${key}: ${JSON.stringify(text)} is not a decimal number`);
  const v = BigInt(text);
  if (v >= 1n << BigInt(bits)) throw new Error(`feature ${key}: ${text} is out of range`);
  return v;
}

export function parseFeatures(features: Record<string, string>): RemoteIdentity {
  for (const key of REQUIRED_FEATURES) {
    if (!Object.hasOwn(features, key)) throw new Error(`Field ${key} is missing`);
  }
  const flavour = features.PeerNameFlavour!;
  if (flavour !== PEER_NAME_FLAVOUR) {
    throw new Error(`Peer name flavour mismatch (ours: '${PEER_NAME_FLAVOUR}', theirs: '${flavour}')`);
  }
  const remote: RemoteIdentity = {
    name: peerNameFromFeature(features.Name!),
    nickname: features.NickName!,
    uid: parseDecimal('UID', features.UID!, 64),
    connId: parseDecimal('ConnID', features.ConnID!, 64),
    features: { ...features },
  };
  if (Object.hasOwn(features, 'ShortID')) remote.shortId = Number(parseDecimal('ShortID', features.ShortID!, SHORT_ID_BITS));
  if (Object.hasOwn(features, 'Trusted') && !/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(features.Trusted!)) {
    // Go's strconv.ParseBool set; anything else fails the connection there too.
    throw new Error(`feature Trusted: ${JSON.stringify(features.Trusted)} is not a boolean`);
  }
  return remote;
}
