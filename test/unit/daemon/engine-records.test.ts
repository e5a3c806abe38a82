// Engine API JSON is outside input: these pin that odd answers cost a record, never a throw.
import { expect } from 'chai';
import { parseContainer, parseEvent, parseNetwork } from '../../../daemon/engine-records.ts';

const ID = '1aa41a3c518c5de509204b0126e4f254472aec1aecc7341b85489097c9f5354b';

function container(networks: unknown): unknown {
  return { Id: ID, Name: '/web', State: { Running: true }, Config: { Hostname: 'h', Domainname: '' }, NetworkSettings: { Networks: networks } };
}

describe('engine-records', () => {
  it('reads a container: name without slash, short ID dropped from aliases, prefix-less address', () => {
    const r = parseContainer(container({ app: { NetworkID: 'n1', EndpointID: 'e1', IPAddress: '10.44.0.1', Aliases: ['www', ID.slice(0, 12), 'h'] } }));
    expect(r.ok && r.value).to.deep.include({ id: ID, name: 'web', running: true, hostname: 'h', domainname: '', skipped: [] });
    expect(r.ok && r.value.endpoints).to.deep.equal([{ networkName: 'app', networkId: 'n1', endpointId: 'e1', ipv4: '10.44.0.1', aliases: ['www', 'h'] }]);
  });

  it('skips one bad endpoint and keeps the rest; null aliases and odd addresses are empty', () => {
    const r = parseContainer(container({ bad: { NetworkID: 7 }, ok: { NetworkID: 'n2', EndpointID: null, IPAddress: 'x', Aliases: null } }));
    expect(r.ok && r.value.skipped).to.deep.equal(['bad']);
    expect(r.ok && r.value.endpoints).to.deep.equal([{ networkName: 'ok', networkId: 'n2', endpointId: '', ipv4: '', aliases: [] }]);
  });

  it('refuses what is not a container, without throwing', () => {
    for (const raw of [undefined, null, 'text', 42, [], {}, { Id: ID }, { ...(container(null) as object), State: 'running' }]) {
      expect(parseContainer(raw).ok, JSON.stringify(raw)).to.equal(false);
    }
    expect(parseContainer(container(null)).ok).to.equal(true);
  });

  it('reads a network: subnets and attachments by container, prefix stripped', () => {
    const r = parseNetwork({
      Id: 'g', Name: 'docker_gwbridge', Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.17.0.0/16' }, {}] },
      Containers: { [ID]: { EndpointID: 'e', IPv4Address: '172.17.0.2/16' }, other: 'junk' },
    });
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value).to.deep.include({ id: 'g', name: 'docker_gwbridge', driver: 'bridge', subnets: ['172.17.0.0/16'] });
    expect([...r.value.attachments]).to.deep.equal([[ID, { endpointId: 'e', ipv4: '172.17.0.2' }]]);
    expect(parseNetwork({ Id: 'n', Name: 'x', IPAM: null, Containers: null }).ok).to.equal(true);
    expect(parseNetwork({ Name: 'x' }).ok).to.equal(false);
  });

  it('reads event lines and refuses garbage', () => {
    const r = parseEvent(JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n', Attributes: { container: ID } } }));
    expect(r.ok && r.value).to.deep.equal({ type: 'network', action: 'connect', actorId: 'n', attributes: { container: ID } });
    for (const line of ['{', 'null', '{"Type":1}', '{"Type":"container","Action":"start"}']) expect(parseEvent(line).ok, line).to.equal(false);
  });
});
