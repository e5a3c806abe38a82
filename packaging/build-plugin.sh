#!/usr/bin/env bash
# Make the directory `docker plugin create` takes: OUT_DIR/config.json + OUT_DIR/rootfs.
#
#   packaging/build-plugin.sh [OUT_DIR]                     rootfs assembled from this machine,
#                                                           no registry needed (build-rootfs.sh)
#   packaging/build-plugin.sh --from-image IMAGE [OUT_DIR]  rootfs exported from an image, e.g.
#                                                           one built from the Dockerfile
# OUT_DIR defaults to <repo>/plugin-build. Then:
#   docker plugin create weave:latest OUT_DIR && docker plugin enable weave:latest
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
image=""
if [ "${1:-}" = "--from-image" ]; then
  image="${2:?--from-image needs an image name}"
  shift 2
fi
out="${1:-$repo/plugin-build}"
mkdir -p "$out"

if [ -z "$image" ]; then
  bash "$repo/packaging/build-rootfs.sh" "$out/rootfs"
else
  # the same guard as build-rootfs.sh: only ever replace a previous weave rootfs
  if [ -e "$out/rootfs" ]; then
    [ -f "$out/rootfs/app/package.json" ] || { echo "build-plugin: $out/rootfs exists and is not a weave rootfs" >&2; exit 1; }
    rm -rf "$out/rootfs"
  fi
  mkdir -p "$out/rootfs"
  # `docker create` never starts the container; its filesystem is all we want
  cid="$(docker create --network none "$image" weave version)"
  trap 'docker rm "$cid" >/dev/null' EXIT
  docker export "$cid" | tar -x -C "$out/rootfs"
  # docker export leaves the engine's own mount points; the plugin needs the socket directory
  mkdir -p "$out/rootfs/run/docker/plugins"
  [ -x "$out/rootfs/usr/bin/node" ] && [ -f "$out/rootfs/app/package.json" ] \
    || { echo "build-plugin: $image does not have the weave layout (/usr/bin/node, /app)" >&2; exit 1; }
fi
cp "$repo/config.json" "$out/config.json"
echo "build-plugin: $out (docker plugin create weave:latest $out)"
