import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive, processStartTime } from './host-processes.ts';
import { LABS_ROOT, LabLayout } from './lab-layout.ts';
import { teardownLabSync } from './lab-teardown.ts';

/** A lab is owned by the test process that made it (PID + start time, so a reused PID does not
 *  count). This is what the owner file holds. */
export function ownerRecord(pid: number = process.pid): string {
  return `${pid} ${processStartTime(pid) ?? '?'}\n`;
}

function ownerAlive(record: string): boolean {
  const [pid, start] = record.trim().split(' ');
  if (!pid || !/^\d+$/.test(pid)) return false;
  return pidAlive(Number(pid)) && processStartTime(Number(pid)) === start;
}

/** A marker dir without owner file is an `up` that died in its first milliseconds, or one that
 *  is just starting: give the latter time to write it. */
const OWNERLESS_GRACE_MS = 30_000;

/** Tears down leftovers of earlier runs of this harness that crashed (owner process gone).
 *  Looks only at marker dirs under LABS_ROOT, so other people's namespaces are never touched.
 *  Returns the ids it removed, with any problems met. */
export function sweepStaleLabs(root: string = LABS_ROOT): { swept: string[]; problems: string[] } {
  const swept: string[] = [];
  const problems: string[] = [];
  if (!existsSync(root)) return { swept, problems };
  for (const id of readdirSync(root)) {
    let layout: LabLayout;
    try {
      layout = new LabLayout(id, root);
    } catch {
      continue; // not a name this harness makes
    }
    let owner: string | undefined;
    try {
      owner = readFileSync(layout.ownerFile, 'utf8');
    } catch {
      owner = undefined;
    }
    if (owner !== undefined && ownerAlive(owner)) continue;
    if (owner === undefined && Date.now() - statSync(join(root, id)).mtimeMs < OWNERLESS_GRACE_MS) continue;
    problems.push(...teardownLabSync(layout));
    swept.push(id);
  }
  return { swept, problems };
}
