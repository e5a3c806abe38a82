#!/usr/bin/env bash
# Import the same rootfs as a container image for "container mode", without a registry:
#
#   packaging/import-image.sh [ROOTFS_DIR] [IMAGE]   (defaults: <repo>/plugin-build/rootfs, weave:latest)
#   docker run -d --name weave --net=host --privileged \
#     -v /run/docker/plugins:/run/docker/plugins -v /var/lib/weave:/var/lib/weave \
#     -v /var/run/docker.sock:/var/run/docker.sock -v /etc/machine-id:/etc/machine-id:ro \
#     weave:latest weave daemon
#
# Uses whichever engine `docker` talks to (DOCKER_HOST). `docker import` keeps no image config,
# so PATH and the working directory are set here; the Dockerfile sets the same.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
rootfs="${1:-$repo/plugin-build/rootfs}"
image="${2:-weave:latest}"
[ -x "$rootfs/usr/bin/node" ] || { echo "import-image: $rootfs is not a weave rootfs (npm run plugin:build)" >&2; exit 1; }
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'WORKDIR /app' \
  -c 'CMD ["weave", "daemon"]' \
  - "$image"
