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
  ] as const) {
    it(`refuses ${field}=${String(value)} naming the field`, () => {
      expect(() => resolveConfig({ [field]: value })).to.throw(new RegExp(`invalid configuration: .*${words}`));
    });
  }
});
