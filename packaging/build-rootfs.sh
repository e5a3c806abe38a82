#!/usr/bin/env bash
# Assemble the weave root filesystem from this machine, without any image registry: the node
# binary and the shared libraries it and our native addons need, the compiled dist/, the
# production node_modules, the addon and package.json. The layout is the one the Dockerfile
# produces where a registry is reachable, so the plugin's config.json and `docker import` work
# with either.
#
#   packaging/build-rootfs.sh OUT_DIR      (OUT_DIR must not exist or be a previous rootfs)
#
# Needs: a built checkout (dist/ and datapath/native/build/Release/weave_native.node), ldd.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: build-rootfs.sh OUT_DIR}"

addon="$repo/datapath/native/build/Release/weave_native.node"
[ -f "$repo/dist/cli/main.js" ] || { echo "build-rootfs: $repo/dist is not built (npm run build:ts)" >&2; exit 1; }
[ -f "$addon" ] || { echo "build-rootfs: $addon is missing (npm run build)" >&2; exit 1; }
node_bin="$(command -v node)"
node_bin="$(readlink -f "$node_bin")"

# A previous rootfs is replaced as a whole so no stale file survives; refuse anything else so a
# typo cannot wipe an unrelated directory.
if [ -e "$out" ]; then
  [ -f "$out/app/package.json" ] || { echo "build-rootfs: $out exists and is not a weave rootfs" >&2; exit 1; }
  rm -rf "$out"
fi
mkdir -p "$out"

# Directories the runtimes expect: Docker mounts the plugin socket directory at
# /run/docker/plugins and refuses a rootfs without it; the rest are mount points and scratch.
mkdir -p "$out"/{app,usr/bin,etc,tmp,proc,sys,dev,run/docker/plugins,var/lib/weave,var/run}
chmod 1777 "$out/tmp"

install -m 0755 "$node_bin" "$out/usr/bin/node"

app="$out/app"
cp "$repo/package.json" "$app/"
cp -r "$repo/bin" "$repo/dist" "$app/"
mkdir -p "$app/datapath/native/build/Release"
cp "$addon" "$app/datapath/native/build/Release/"

# Production dependencies only, and not the build-time ones (node-gyp compiles the addon,
# node-addon-api is its headers): resolve package.json dependencies the way node does (nearest
# node_modules upwards) from the root, and print each package directory relative to the repo.
(cd "$repo" && node -e '
  const fs = require("fs"), path = require("path");
  const buildOnly = new Set(["node-gyp", "node-addon-api"]);
  const root = process.cwd(), seen = new Set();
  const deps = (dir) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    return Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies });
  };
  const resolve = (from, name) => {
    for (let d = from; ; d = path.dirname(d)) {
      const c = path.join(d, "node_modules", name);
      if (fs.existsSync(path.join(c, "package.json"))) return c;
      if (d === root || d === path.dirname(d)) return undefined;
    }
  };
  const visit = (dir) => {
    for (const name of deps(dir)) {
      if (dir === root && buildOnly.has(name)) continue;
      const at = resolve(dir, name);
      if (at === undefined) continue; // an optional dependency for another platform
      if (seen.has(at)) continue;
      seen.add(at);
      visit(at);
    }
  };
  visit(root);
  process.stdout.write([...seen].map((d) => path.relative(root, d)).join("\n") + "\n");
') | while read -r rel; do
  [ -n "$rel" ] || continue
  # merge, not skip: a nested package may have created this directory already
  mkdir -p "$app/$rel"
  cp -rn "$repo/$rel/." "$app/$rel/"
done
# Keep only this machine's prebuilt binaries of addons that ship many platforms.
arch="$(node -p 'process.platform + "-" + process.arch')"
find "$app/node_modules" -type d -name prebuilds | while read -r pb; do
  find "$pb" -mindepth 1 -maxdepth 1 -type d ! -name "$arch" -exec rm -rf {} +
done

# Shared libraries: whatever ldd resolves for node and for every native addon we ship, copied to
# the same path (plus the dynamic loader), so the binaries run as they do here.
copy_libs() {
  ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}' | while read -r lib; do
    [ -e "$out$lib" ] && continue
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
  done
}
copy_libs "$node_bin"
find "$app" -name '*.node' -type f | while read -r so; do copy_libs "$so"; done

# `weave` on PATH for container mode (`docker run ... weave daemon`, `docker exec ... weave
# status`): bin/weave.js starts with `#!/usr/bin/env node`, so env comes along too.
env_bin="$(readlink -f "$(command -v env)")"
install -m 0755 "$env_bin" "$out/usr/bin/env"
copy_libs "$env_bin"
ln -s /app/bin/weave.js "$out/usr/bin/weave"
chmod 0755 "$app/bin/weave.js"

# Node resolves the system CA store and the host name through files a minimal rootfs lacks;
# empty passwd/group keep os.userInfo() and similar calls from failing.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\n' >"$out/etc/group"
: >"$out/etc/machine-id"

echo "build-rootfs: $out ($(du -sh "$out" | cut -f1))"
