// The status API's HOST:PORT, parsed: its own file so the CLI reads it without loading the
// API's server side (Express).
export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}
