// Driver options of `docker network create -o key=value`. The Engine API passes them as strings,
// so booleans arrive as text and are parsed here, the way Weave parsed them.

import type { Logger } from '../common/logger.ts';
import { PluginError } from './plugin-error.ts';

export const MULTICAST_OPTION = 'works.weave.multicast';
const OUR_PREFIX = 'works.weave.';

export interface NetworkDriverOptions {
  multicast: boolean;
}

/** Accepts exactly what Go's strconv.ParseBool accepts, so option values that worked with Weave
 *  keep working. */
export function parseBoolOption(key: string, value: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw new PluginError(`option ${key}=${JSON.stringify(value)}: expected true or false`);
}

export function parseNetworkDriverOptions(generic: Record<string, string>, log: Logger): NetworkDriverOptions {
  const result: NetworkDriverOptions = { multicast: true };
  for (const [key, value] of Object.entries(generic)) {
    if (key === MULTICAST_OPTION) {
      // `-o works.weave.multicast` without a value means "on", as in Weave
      result.multicast = value === '' ? true : parseBoolOption(key, value);
    } else if (key.startsWith(OUR_PREFIX)) {
      // a typo in one of our own options must not be silently ignored
      throw new PluginError(`unknown option ${key}; supported: ${MULTICAST_OPTION}`);
    } else {
      log.info('ignoring network option not meant for weave', { option: key });
    }
  }
  return result;
}
