// tcpdump on a lab host's interface, started in the background and returned only once it is
// capturing: tcpdump needs from a few hundred ms to seconds to open the device on a loaded
// machine, and packets sent before that are simply not in the file (CI once saw 2 of 5 pings).
// --immediate-mode: without it the kernel hands packets over in blocks retired by a timeout, so
// the last packets before a kill were never written (the 5th of 5 pings went missing here).
import type { LabHost } from './lab-host.ts';
import { sleep, waitFor } from './wait.ts';

export interface HostCapture {
  /** Stops tcpdump (the file is complete once this resolves). */
  stop(): Promise<void>;
}

/** Starts `tcpdump -i IFACE -n -U --immediate-mode -w FILE FILTER...` in host `h` and waits for its "listening on". */
export async function startHostCapture(h: LabHost, iface: string, file: string, filter: string[]): Promise<HostCapture> {
  const err = `${file}.err`;
  const quoted = filter.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const started = await h.exec('sh', ['-c', `tcpdump -i ${iface} -n -U --immediate-mode -w ${file} ${quoted} >/dev/null 2>${err} & echo $!`]);
  const pid = started.stdout.trim();
  const stop = async (): Promise<void> => {
    await h.exec('kill', [pid], { allowFail: true });
    // -U has written every packet already; this is the time tcpdump takes to close the file
    await sleep(300);
    await h.exec('rm', ['-f', err], { allowFail: true });
  };
  try {
    await waitFor(async () => (await h.exec('cat', [err], { allowFail: true })).stdout.includes('listening on') || undefined, {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: `tcpdump on ${iface} in ${h.name} to start capturing`,
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { stop };
}
