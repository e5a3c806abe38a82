import { z } from 'zod';
import { isIpv4 } from '../common/ipv4.ts';

// The parts of Engine API answers the container watcher reads, validated: dockerd's JSON is input
// from outside, and one odd container or network must cost us that record, not the daemon.

/** One endpoint of a container as `GET /containers/{id}/json` lists it. */
export interface ContainerEndpointRecord {
  networkName: string;
  networkId: string;
  endpointId: string;
  ipv4: string;
  aliases: string[];
}

export interface ContainerRecord {
  id: string;
  name: string;
  running: boolean;
  hostname: string;
  domainname: string;
  endpoints: ContainerEndpointRecord[];
  /** Endpoints left out because their JSON did not fit (for the log). */
  skipped: string[];
}

/** What `GET /networks/{id}` says about a network and the containers attached to it. */
export interface NetworkRecord {
  id: string;
  name: string;
  driver: string;
  subnets: string[];
  /** IPAM gateways (bare IPs). */
  gateways: string[];
  /** By container ID. Docker lists a container's docker_gwbridge endpoint only here. */
  attachments: Map<string, { endpointId: string; ipv4: string }>;
}

export interface EngineEvent {
  type: string;
  action: string;
  actorId: string;
  attributes: Record<string, string>;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const nullableString = z.string().nullish().transform((s) => s ?? '');

const containerSchema = z.object({
  Id: z.string().min(1),
  Name: z.string(),
  State: z.object({ Running: z.boolean() }),
  Config: z.object({ Hostname: nullableString, Domainname: nullableString }),
  NetworkSettings: z.object({ Networks: z.record(z.string(), z.unknown()).nullish() }),
});

const endpointSchema = z.object({
  NetworkID: z.string().min(1),
  EndpointID: nullableString,
  IPAddress: nullableString,
  Aliases: z.array(z.string()).nullish(),
});

const networkSchema = z.object({
  Id: z.string().min(1),
  Name: z.string(),
  Driver: nullableString,
  IPAM: z.object({ Config: z.array(z.object({ Subnet: z.string().nullish(), Gateway: z.string().nullish() })).nullish() }).nullish(),
  Containers: z.record(z.string(), z.unknown()).nullish(),
});

const attachmentSchema = z.object({ EndpointID: nullableString, IPv4Address: nullableString });

const eventSchema = z.object({
  Type: z.string(),
  Action: z.string(),
  Actor: z.object({ ID: nullableString, Attributes: z.record(z.string(), z.string()).nullish() }),
});

function fail(error: z.ZodError): { ok: false; error: string } {
  return { ok: false, error: z.prettifyError(error) };
}

/** Address without prefix length, or '' when it is not a usable IPv4 address. */
function ipv4Of(text: string): string {
  const addr = text.split('/')[0] ?? '';
  return isIpv4(addr) ? addr : '';
}

export function parseContainer(raw: unknown): Parsed<ContainerRecord> {
  const c = containerSchema.safeParse(raw);
  if (!c.success) return fail(c.error);
  const shortId = c.data.Id.slice(0, 12);
  const endpoints: ContainerEndpointRecord[] = [];
  const skipped: string[] = [];
  for (const [networkName, value] of Object.entries(c.data.NetworkSettings.Networks ?? {})) {
    const ep = endpointSchema.safeParse(value);
    if (!ep.success) {
      skipped.push(networkName);
      continue;
    }
    endpoints.push({
      networkName,
      networkId: ep.data.NetworkID,
      endpointId: ep.data.EndpointID,
      ipv4: ipv4Of(ep.data.IPAddress),
      // Docker adds the short ID as an alias on every user-defined network: no one chose it
      aliases: (ep.data.Aliases ?? []).filter((a) => a !== shortId),
    });
  }
  return {
    ok: true,
    value: {
      id: c.data.Id,
      name: c.data.Name.replace(/^\//, ''),
      running: c.data.State.Running,
      hostname: c.data.Config.Hostname,
      domainname: c.data.Config.Domainname,
      endpoints,
      skipped,
    },
  };
}

export function parseNetwork(raw: unknown): Parsed<NetworkRecord> {
  const n = networkSchema.safeParse(raw);
  if (!n.success) return fail(n.error);
  const attachments = new Map<string, { endpointId: string; ipv4: string }>();
  for (const [containerId, value] of Object.entries(n.data.Containers ?? {})) {
    const a = attachmentSchema.safeParse(value);
    if (a.success) attachments.set(containerId, { endpointId: a.data.EndpointID, ipv4: ipv4Of(a.data.IPv4Address) });
  }
  return {
    ok: true,
    value: {
      id: n.data.Id,
      name: n.data.Name,
      driver: n.data.Driver,
      subnets: (n.data.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s.length > 0),
      gateways: (n.data.IPAM?.Config ?? []).map((c) => ipv4Of(c.Gateway ?? '')).filter((g) => g.length > 0),
      attachments,
    },
  };
}

/** One line of the `GET /events` stream. */
export function parseEvent(line: string): Parsed<EngineEvent> {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  const e = eventSchema.safeParse(json);
  if (!e.success) return fail(e.error);
  return { ok: true, value: { type: e.data.Type, action: e.data.Action, actorId: e.data.Actor.ID, attributes: e.data.Actor.Attributes ?? {} } };
}
