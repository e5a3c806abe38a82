import { expect } from 'chai';
import { decodeFamily, encodeGetFamily, decodeGenlHeader, encodeGenlHeader } from '../../../datapath/netlink/genetlink.ts';
import { fixture, hex } from './hex.ts';

describe('generic netlink codec', function () {
  it('encodes CTRL_CMD_GETFAMILY as `genl ctrl get name nlctrl` does', function () {
    expect(encodeGetFamily('nlctrl', 0)).to.deep.equal(hex('03000000 0b000200 6e6c6374 726c0000'));
  });

  it('genlmsghdr round trip', function () {
    expect(encodeGenlHeader({ cmd: 1, version: 2 })).to.deep.equal(hex('01020000'));
    expect(decodeGenlHeader(hex('01020000'))).to.deep.equal({ cmd: 1, version: 2 });
  });

  it('decodes the kernel’s reply for nlctrl', function () {
    const f = decodeFamily(fixture('genl-newfamily-nlctrl'));
    expect(f.id).to.equal(0x10);
    expect(f.name).to.equal('nlctrl');
    expect(f.version).to.equal(2);
    expect(f.hdrSize).to.equal(0);
    expect(f.ops).to.deep.equal([
      { id: 3, flags: 0x0e },
      { id: 10, flags: 0x0c },
    ]);
    expect([...f.mcastGroups]).to.deep.equal([['notify', 0x10]]);
  });
});
