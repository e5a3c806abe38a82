// IPv4 UDP sockets for the sleeve data plane: creation (optionally inside a netns), PMTU
// discovery mode, connect for IP_MTU. The sockets are driven by BatchHandle.
#pragma once

#include <napi.h>

namespace weave {

// Adds openUdp, udpConnect, udpSetPmtuDiscover, udpGetMtu, udpLocalAddress to exports.
void RegisterUdp(Napi::Env env, Napi::Object exports);

}  // namespace weave
