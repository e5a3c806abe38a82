// The fast-path contract suite against the vxlan-device backend, plus what is specific to it.
import { VxlanDeviceFastPath } from '../../datapath/fastpath/vxlan-device-fastpath.ts';
import { fastPathCompliance } from './fastpath-compliance.ts';

fastPathCompliance('vxlan-device', (env) => new VxlanDeviceFastPath({ ourName: env.ourName, logger: env.logger, bridge: env.bridge, mtu: env.mtu, netns: env.netns }));
