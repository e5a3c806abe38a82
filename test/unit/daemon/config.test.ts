import { expect } from 'chai';
import { configFromEnv, DEFAULTS, resolveConfig } from '../../../daemon/config.ts';

describe('daemon config', () => {
  it('uses the documented defaults', () => {
    const c = resolveConfig();
    expect(c).to.deep.equal(DEFAULTS);
    expect(c.mtu).to.equal(1376);
    expect(c.ipallocRange).to.equal('10.32.0.0/12');
    expect(c.pluginSocket).to.equal('/run/docker/plugins/weave.sock');
    expect(c.statusAddr).to.equal('127.0.0.1:6784');
    expect(c).to.include({ dns: true, dnsDomain: 'weave.local.', dnsAddress: '169.254.53.53', dnsPort: 53, dnsTtl: 1, resolvConf: '/etc/resolv.conf' });
  });

  it('reads the DNS settings from the environment', () => {
    const c = resolveConfig(configFromEnv({ WEAVE_NO_DNS: '1', WEAVE_DNS_DOMAIN: 'corp.example', WEAVE_DNS_ADDRESS: '169.254.9.9' }));
    expect(c).to.include({ dns: false, dnsDomain: 'corp.example.', dnsAddress: '169.254.9.9' });
  });

  it('lets later layers override earlier ones and ignores undefined values', () => {
    const c = resolveConfig({ mtu: 1400, dataDir: '/a' }, { dataDir: '/b', mtu: undefined });
    expect(c.mtu).to.equal(1400);
    expect(c.dataDir).to.equal('/b');
  });

  it('reads the environment a managed plugin is configured with', () => {
    const env = { WEAVE_MTU: '1410', IPALLOC_RANGE: '10.40.0.0/14', WEAVE_DATA_DIR: '/x', LOG_LEVEL: 'debug' };
    const c = resolveConfig(configFromEnv(env));
    expect(c.mtu).to.equal(1410);
    expect(c.ipallocRange).to.equal('10.40.0.0/14');
    expect(c.dataDir).to.equal('/x');
    expect(c.logLevel).to.equal('debug');
  });

  for (const [field, value, words] of [
    ['mtu', 100, 'mtu'],
    ['mtu', Number.NaN, 'mtu'],
    ['ipallocRange', '10.32.0.0', 'ipallocRange'],
    ['ipallocRange', '300.1.1.1/8', 'ipallocRange'],
    ['statusAddr', 'localhost', 'statusAddr'],
    ['logLevel', 'loud', 'logLevel'],
    ['dnsDomain', 'weave..local.', 'dnsDomain'],
    ['dnsDomain', 'weave.local', 'dnsDomain'],
    ['dnsAddress', '169.254.53.53/32', 'dnsAddress'],
    ['dnsTtl', -1, 'dnsTtl'],
  ] as const) {
    it(`refuses ${field}=${String(value)} naming the field`, () => {
      expect(() => resolveConfig({ [field]: value })).to.throw(new RegExp(`invalid configuration: .*${words}`));
    });
  }
});
