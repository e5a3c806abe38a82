#!/usr/bin/env bash
# Make the directory `docker plugin create` takes: plugin-build/config.json + plugin-build/rootfs.
# No registry needed: the rootfs is assembled from this machine (build-rootfs.sh).
#
#   packaging/build-plugin.sh [OUT_DIR]     (default: <repo>/plugin-build)
#   docker plugin create weave:latest plugin-build && docker plugin enable weave:latest
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/plugin-build}"
mkdir -p "$out"
bash "$repo/packaging/build-rootfs.sh" "$out/rootfs"
cp "$repo/config.json" "$out/config.json"
echo "build-plugin: $out (docker plugin create weave:latest $out)"
