import { expect } from 'chai';
import { Command } from 'commander';
import { addDaemonOptions, flagsToArgv, flagsToConfig, type DaemonFlags } from '../../../cli/options.ts';

function parse(argv: string[]): DaemonFlags {
  const cmd = addDaemonOptions(new Command('launch')).exitOverride();
  cmd.parse(argv, { from: 'user' });
  return cmd.opts<DaemonFlags>();
}

describe('CLI daemon options', () => {
  it('round-trips launch flags to the argv of the detached daemon', () => {
    const argv = ['--data-dir', '/d', '--mtu', '1400', '--ipalloc-range', '10.40.0.0/14', '--status-addr', '127.0.0.1:7000', '--no-default-network'];
    const flags = parse(argv);
    expect(parse(flagsToArgv(flags))).to.deep.equal(flags);
    expect(flagsToArgv(flags)).to.include.members(argv);
  });

  it('maps flags to config, with the default network on unless disabled', () => {
    expect(flagsToConfig(parse(['--mtu', '1400']))).to.include({ mtu: 1400, defaultNetwork: undefined });
    expect(flagsToConfig(parse(['--no-default-network']))).to.include({ defaultNetwork: false });
  });

  it('carries the DNS flags to the detached daemon and normalises the domain to its absolute form', () => {
    const argv = ['--no-dns', '--dns-domain', 'corp.example', '--dns-address', '169.254.1.1', '--dns-port', '5353', '--dns-ttl', '5', '--resolv-conf', '/tmp/r.conf'];
    const flags = parse(argv);
    expect(parse(flagsToArgv(flags))).to.deep.equal(flags);
    expect(flagsToConfig(flags)).to.include({ dns: false, dnsDomain: 'corp.example.', dnsAddress: '169.254.1.1', dnsPort: 5353, dnsTtl: 5, resolvConf: '/tmp/r.conf' });
    expect(flagsToConfig(parse([]))).to.include({ dns: undefined, dnsDomain: undefined });
  });
});
