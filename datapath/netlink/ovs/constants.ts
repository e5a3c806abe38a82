// Numbers of the Open vSwitch generic netlink API (include/uapi/linux/openvswitch.h) that we use.

export const OVS_DATAPATH_FAMILY = 'ovs_datapath';
export const OVS_VPORT_FAMILY = 'ovs_vport';
export const OVS_FLOW_FAMILY = 'ovs_flow';
export const OVS_PACKET_FAMILY = 'ovs_packet';
/** Multicast group of ovs_vport on which vport NEW/DEL events arrive. */
export const OVS_VPORT_MCGROUP = 'ovs_vport';

/** struct ovs_header: just the datapath's ifindex. */
export const OVS_HEADER_LEN = 4;

export const OVS_DP_CMD_NEW = 1;
export const OVS_DP_CMD_DEL = 2;
export const OVS_DP_CMD_GET = 3;
export const OVS_DP_CMD_SET = 4;

export const OVS_DP_ATTR_NAME = 1;
export const OVS_DP_ATTR_UPCALL_PID = 2;
export const OVS_DP_ATTR_STATS = 3;
export const OVS_DP_ATTR_MEGAFLOW_STATS = 4;
export const OVS_DP_ATTR_USER_FEATURES = 5;

/** The packet attribute of upcalls may end unpadded. */
export const OVS_DP_F_UNALIGNED = 1 << 0;
/** Each vport carries its own upcall port ids (what Weave asks for). */
export const OVS_DP_F_VPORT_PIDS = 1 << 1;

export const OVS_VPORT_CMD_NEW = 1;
export const OVS_VPORT_CMD_DEL = 2;
export const OVS_VPORT_CMD_GET = 3;
export const OVS_VPORT_CMD_SET = 4;

export const OVS_VPORT_ATTR_PORT_NO = 1;
export const OVS_VPORT_ATTR_TYPE = 2;
export const OVS_VPORT_ATTR_NAME = 3;
export const OVS_VPORT_ATTR_OPTIONS = 4;
export const OVS_VPORT_ATTR_UPCALL_PID = 5;
export const OVS_VPORT_ATTR_STATS = 6;
export const OVS_VPORT_ATTR_IFINDEX = 8;

export const OVS_VPORT_TYPE_NETDEV = 1;
export const OVS_VPORT_TYPE_INTERNAL = 2;
export const OVS_VPORT_TYPE_GRE = 3;
export const OVS_VPORT_TYPE_VXLAN = 4;
export const OVS_VPORT_TYPE_GENEVE = 5;

export const OVS_TUNNEL_ATTR_DST_PORT = 1;

export const OVS_FLOW_CMD_NEW = 1;
export const OVS_FLOW_CMD_DEL = 2;
export const OVS_FLOW_CMD_GET = 3;
export const OVS_FLOW_CMD_SET = 4;

export const OVS_FLOW_ATTR_KEY = 1;
export const OVS_FLOW_ATTR_ACTIONS = 2;
export const OVS_FLOW_ATTR_STATS = 3;
export const OVS_FLOW_ATTR_TCP_FLAGS = 4;
export const OVS_FLOW_ATTR_USED = 5;
export const OVS_FLOW_ATTR_CLEAR = 6;
export const OVS_FLOW_ATTR_MASK = 7;

export const OVS_KEY_ATTR_ENCAP = 1;
export const OVS_KEY_ATTR_PRIORITY = 2;
export const OVS_KEY_ATTR_IN_PORT = 3;
export const OVS_KEY_ATTR_ETHERNET = 4;
export const OVS_KEY_ATTR_ETHERTYPE = 6;
export const OVS_KEY_ATTR_IPV4 = 7;
export const OVS_KEY_ATTR_ARP = 13;
export const OVS_KEY_ATTR_SKB_MARK = 15;
export const OVS_KEY_ATTR_TUNNEL = 16;

export const OVS_TUNNEL_KEY_ATTR_ID = 0;
export const OVS_TUNNEL_KEY_ATTR_IPV4_SRC = 1;
export const OVS_TUNNEL_KEY_ATTR_IPV4_DST = 2;
export const OVS_TUNNEL_KEY_ATTR_TOS = 3;
export const OVS_TUNNEL_KEY_ATTR_TTL = 4;
export const OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT = 5;
export const OVS_TUNNEL_KEY_ATTR_CSUM = 6;
export const OVS_TUNNEL_KEY_ATTR_TP_SRC = 9;
export const OVS_TUNNEL_KEY_ATTR_TP_DST = 10;

export const OVS_ACTION_ATTR_OUTPUT = 1;
export const OVS_ACTION_ATTR_USERSPACE = 2;
export const OVS_ACTION_ATTR_SET = 3;

export const OVS_PACKET_CMD_MISS = 1;
export const OVS_PACKET_CMD_ACTION = 2;
export const OVS_PACKET_CMD_EXECUTE = 3;

export const OVS_PACKET_ATTR_PACKET = 1;
export const OVS_PACKET_ATTR_KEY = 2;
export const OVS_PACKET_ATTR_ACTIONS = 3;
export const OVS_PACKET_ATTR_USERDATA = 4;
