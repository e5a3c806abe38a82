// Does this kernel do ESP with Weave's AEAD? Asked of the kernel itself: install and remove an
// SA nobody refers to (no policy selects it, so no packet ever meets it). Loading esp4 and the
// crypto modules happens on demand inside that request where the kernel has them as modules.
import { NetlinkError } from '../netlink/netlink-error.ts';
import type { XfrmClient } from '../netlink/xfrm/client.ts';
import { ESP_AEAD, ESP_ICV_BITS, ESP_KEY_BYTES, ESP_REPLAY_WINDOW, IPSEC_REQID } from './constants.ts';

/** `reason` is what users see after "encrypted sleeve: "; `detail` is the kernel's own words. */
export type EspSupport = { ok: true } | { ok: false; reason: string; detail: string };

/** Below the kernel's allocation range (0x100..), so it never collides with a real SA. */
const PROBE_SPI = 0xfe;
const PROBE = { src: '127.0.0.1', dst: '127.0.0.1', spi: PROBE_SPI };

export async function probeEsp(xfrm: XfrmClient): Promise<EspSupport> {
  await xfrm.deleteSa(PROBE).catch(() => false);
  try {
    await xfrm.addSa({
      ...PROBE,
      reqid: IPSEC_REQID,
      aead: { name: ESP_AEAD, key: Buffer.alloc(ESP_KEY_BYTES), icvBits: ESP_ICV_BITS },
      replayWindow: ESP_REPLAY_WINDOW,
      esn: true,
    });
  } catch (err) {
    return { ok: false, reason: espFailureReason(err), detail: err instanceof Error ? err.message : String(err) };
  }
  await xfrm.deleteSa(PROBE);
  return { ok: true };
}

/** The kernel's refusal in the words `weave status connections` shows after "encrypted sleeve: ". */
export function espFailureReason(err: unknown): string {
  if (err instanceof NetlinkError) {
    // ENOSYS: the AEAD is unknown (the crypto is there only with ESP configured);
    // EPROTONOSUPPORT: no ESP protocol handler (esp4 not built).
    if (err.code === 'ENOSYS' || err.code === 'EPROTONOSUPPORT' || err.code === 'ENOENT') {
      return 'kernel has no ESP (esp4)';
    }
    if (err.code === 'EAFNOSUPPORT') return `kernel has no IPsec (xfrm): ${err.code}`;
    if (err.code === 'EPERM') return 'no permission to program IPsec (CAP_NET_ADMIN)';
  }
  return `IPsec unavailable: ${err instanceof Error ? err.message : String(err)}`;
}

