import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** test/harness/ sits two levels below the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const WEAVE_BIN = join(REPO_ROOT, 'bin', 'weave.js');

const COMPILED_CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

/** bin/weave.js runs the compiled CLI; without dist/ every host.weave() would fail with a
 *  confusing module-not-found from inside a namespace. */
export function requireBuiltCli(): void {
  if (!existsSync(COMPILED_CLI)) {
    throw new Error(`${COMPILED_CLI} is missing: run \`npm run build\` (or \`npx tsc -p tsconfig.build.json\`) first`);
  }
}
