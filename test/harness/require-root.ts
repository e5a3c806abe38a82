/** Lab tests create namespaces, mounts and daemons: without root they cannot test anything,
 *  and a skipped test would read as a pass. */
export function requireRoot(what: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`${what} needs root (network namespaces, mounts, dockerd); run the tests as root`);
  }
}
