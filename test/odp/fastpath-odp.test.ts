// The fast-path compliance suite against the ODP backend. Runs inside the QEMU guest (the host
// kernel has no openvswitch module); host entry: test/kernel/odp-vm.test.ts.
import { OdpFastPath } from '../../datapath/odp/odp-fastpath.ts';
import { fastPathCompliance } from '../kernel/fastpath-compliance.ts';

fastPathCompliance('odp', (env) => new OdpFastPath({ ourName: env.ourName, logger: env.logger, bridge: env.bridge, mtu: env.mtu, netns: env.netns, localIp: env.underlayIp }));
