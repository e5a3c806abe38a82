import { expect } from 'chai';
import { silentLogger } from '../../../common/logger.ts';
import { parseBoolOption, parseNetworkDriverOptions } from '../../../plugin/network-options.ts';
import { isHostVethName, vethNamesFor } from '../../../plugin/veth-names.ts';

describe('plugin/network-options', () => {
  const log = silentLogger();

  it('parses booleans the way Go strconv.ParseBool does', () => {
    for (const t of ['1', 't', 'T', 'true', 'TRUE', 'True']) expect(parseBoolOption('k', t), t).to.equal(true);
    for (const f of ['0', 'f', 'F', 'false', 'FALSE', 'False']) expect(parseBoolOption('k', f), f).to.equal(false);
    for (const bad of ['yes', 'no', 'on', 'tRUE', ' true', '2', '']) expect(() => parseBoolOption('k', bad), bad).to.throw(/k=.*expected true or false/);
  });

  it('defaults multicast to on, and reads "" as on', () => {
    expect(parseNetworkDriverOptions({}, log)).to.deep.equal({ multicast: true });
    expect(parseNetworkDriverOptions({ 'works.weave.multicast': '' }, log)).to.deep.equal({ multicast: true });
    expect(parseNetworkDriverOptions({ 'works.weave.multicast': 'false' }, log)).to.deep.equal({ multicast: false });
    expect(parseNetworkDriverOptions({ 'works.weave.multicast': '1' }, log)).to.deep.equal({ multicast: true });
  });

  it('ignores foreign options and refuses unknown weave ones', () => {
    expect(parseNetworkDriverOptions({ mtu: '1400', 'com.example.x': 'y' }, log)).to.deep.equal({ multicast: true });
    expect(() => parseNetworkDriverOptions({ 'works.weave.mtu': '1400' }, log)).to.throw(/unknown option works\.weave\.mtu/);
    expect(() => parseNetworkDriverOptions({ 'works.weave.multicast': 'perhaps' }, log)).to.throw(/expected true or false/);
  });
});

describe('plugin/veth-names', () => {
  it('derives 15-character names from the first 9 characters of the endpoint ID', () => {
    const names = vethNamesFor('f1c8a2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f');
    expect(names).to.deep.equal({ host: 'vethwlf1c8a2b3d', guest: 'vethwgf1c8a2b3d' });
    expect(names.host).to.have.length(15);
    expect(isHostVethName(names.host)).to.equal(true);
    expect(isHostVethName(names.guest)).to.equal(false);
    expect(isHostVethName('veth1234')).to.equal(false);
  });
});
