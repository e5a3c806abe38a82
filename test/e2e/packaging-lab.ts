// Shared by the packaging end-to-end tests: build the plugin directory once per run (from this
// machine, no registry) and install it as a managed plugin in a lab host.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabHost } from '../harness/lab-host.ts';
import { REPO_ROOT } from '../harness/repo-root.ts';
import { runCommand } from '../harness/run-command.ts';
import { waitFor } from '../harness/wait.ts';

/** Managed plugins are registered under name:tag; the tag must be spelled out everywhere. */
export const PLUGIN = 'weave:latest';

export interface PluginBuild {
  /** config.json + rootfs/, what `docker plugin create` takes */
  dir: string;
  remove(): void;
}

/** Runs the same script as `npm run plugin:build` into a throwaway directory under /tmp (which
 *  every lab host shares with the root namespace, so their docker CLIs can read it). */
export async function buildPluginDir(): Promise<PluginBuild> {
  const dir = mkdtempSync(join(tmpdir(), 'wv-plugin-'));
  try {
    await runCommand('bash', [join(REPO_ROOT, 'packaging', 'build-plugin.sh'), dir], { timeoutMs: 120_000 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface PluginInspect {
  Id: string;
  Name: string;
  Enabled: boolean;
  Settings: { Env: string[]; Mounts: { Name: string; Source: string }[] };
  Config: { Interface: { Socket: string; Types: string[] } };
}

export async function inspectPlugin(h: LabHost): Promise<PluginInspect> {
  const raw = JSON.parse((await h.docker('plugin', 'inspect', PLUGIN)).stdout) as PluginInspect[];
  if (!raw[0]) throw new Error(`docker plugin inspect ${PLUGIN}: empty in ${h.name}`);
  return raw[0];
}

/** The daemon inside the plugin serves the status API in the host netns (network type host),
 *  so the host's own `weave status` reaches it; wait until it answers after an enable. */
export async function waitForPluginDaemon(h: LabHost): Promise<void> {
  await waitFor(async () => (await h.tryWeave(['status', '--json'])).code === 0, { timeoutMs: 30_000, intervalMs: 200, what: `weave in the plugin of ${h.name} to answer` });
}

/** `docker plugin create` from the built directory, settings applied while still disabled (the
 *  engine refuses `set` on an enabled plugin), then enable. */
export async function installPlugin(h: LabHost, dir: string, settings: string[] = []): Promise<void> {
  await h.docker('plugin', 'create', PLUGIN, dir);
  if (settings.length > 0) await h.docker('plugin', 'set', PLUGIN, ...settings);
  await h.docker('plugin', 'enable', PLUGIN);
  await waitForPluginDaemon(h);
}

/** dockerd logs the plugin's stderr (our JSON log lines) with a plugin=<id> field. */
export function pluginLogLines(dockerdLog: string, pluginId: string): string[] {
  return dockerdLog.split('\n').filter((l) => l.includes(`plugin=${pluginId}`));
}
