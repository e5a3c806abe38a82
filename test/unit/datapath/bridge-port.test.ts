import { expect } from 'chai';
import { encodeBridgePortFlags } from '../../../datapath/netlink/rtnetlink/bridge-port.ts';
import { encodeBridgeSettings } from '../../../datapath/netlink/rtnetlink/link.ts';

describe('bridge port flags codec', function () {
  it('encodes what `bridge link set dev X learning off isolated on` sends (strace of iproute2)', function () {
    // ifinfomsg {AF_BRIDGE, index 4} + IFLA_PROTINFO|NLA_F_NESTED {LEARNING 0, ISOLATED 1}
    const expected = Buffer.from(
      '07000000' + '04000000' + '00000000' + '00000000' + '14000c80' + '05000800' + '00000000' + '05002100' + '01000000',
      'hex',
    );
    expect(encodeBridgePortFlags(4, { learning: false, isolated: true }).toString('hex')).to.equal(expected.toString('hex'));
  });

  it('encodes flood flags as u8 and flush as an empty flag attribute', function () {
    const b = encodeBridgePortFlags(9, { unicastFlood: false, multicastFlood: false, broadcastFlood: true, flush: true });
    expect(b.subarray(16).toString('hex')).to.equal(
      '20000c80' + '05000900' + '00000000' + '05001b00' + '00000000' + '05001e00' + '01000000' + '04001800',
    );
  });
});

describe('bridge settings codec', function () {
  it('encodes what `ip link set br0 type bridge mcast_snooping 0` sends (strace of iproute2)', function () {
    // ifinfomsg {index 5} + IFLA_LINKINFO {KIND "bridge", DATA {IFLA_BR_MCAST_SNOOPING 0}}
    const expected = '00000000' + '05000000' + '00000000' + '00000000' + '1c001200' + '0a000100' + '627269646765' + '0000' + '0c000200' + '05001700' + '00000000';
    expect(encodeBridgeSettings(5, { multicastSnooping: false }).toString('hex')).to.equal(expected);
  });
});
