# weave as an image, where a registry is reachable. The result has exactly the layout
# packaging/build-rootfs.sh assembles without one (it is that script's output): /usr/bin/node and
# its libraries, /app/{package.json,bin,dist,node_modules}, the addon under
# /app/datapath/native/build/Release, /usr/bin/weave, /run/docker/plugins, /var/lib/weave.
#
#   docker build -t weave:latest .
#   container mode: docker run -d --name weave --net=host --privileged \
#       -v /run/docker/plugins:/run/docker/plugins -v /var/lib/weave:/var/lib/weave \
#       -v /var/run/docker.sock:/var/run/docker.sock -v /etc/machine-id:/etc/machine-id:ro \
#       weave:latest weave daemon
#   managed plugin: packaging/build-plugin.sh --from-image weave:latest
#       && docker plugin create weave:latest plugin-build && docker plugin enable weave:latest
#
# Without a registry use `npm run plugin:build` (and `npm run image:import` for container mode).
# `npm run image:check` (packaging/check-dockerfile.sh) builds this file against a local stand-in
# for the base image, since our machines cannot pull it, and checks the result.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# node-gyp needs a compiler and python for the netlink addon; ldd (libc-bin) lists libraries
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ libc-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# the official node images ship the headers node-gyp needs: use them instead of downloading
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json ./
# `npm ci` runs the install script (node-gyp rebuild) and prepare (tsc), which needs the sources
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY common ./common
COPY cli ./cli
COPY daemon ./daemon
COPY datapath ./datapath
COPY dns ./dns
COPY ipam ./ipam
COPY plugin ./plugin
COPY router ./router
COPY packaging ./packaging
COPY config.json ./
RUN npm ci --no-audit --no-fund && bash packaging/build-rootfs.sh /rootfs

FROM scratch
COPY --from=build /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
CMD ["weave", "daemon"]
