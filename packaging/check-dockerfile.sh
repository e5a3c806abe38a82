#!/usr/bin/env bash
# Build the Dockerfile and check its result, on a machine that reaches Debian's mirror and the
# npm registry but no image registry (so `node:20-bookworm-slim` cannot be pulled):
#
#   1. a stand-in for node:20-bookworm-slim: Debian bookworm minbase (debootstrap) plus this
#      machine's node, npm and node headers where the official image has them (/usr/local),
#      imported as weave-node-base:bookworm;
#   2. a throwaway dockerd in the root network namespace (RUN steps need the mirrors) that adds
#      no address, route, bridge or firewall rule: --bridge=none --iptables=false ...;
#   3. DOCKER_BUILDKIT=0 docker build --network host --build-arg NODE_IMAGE=... -t weave:latest;
#   4. checks: `weave version` in the image prints package.json's version, the native addons
#      load, no build-only packages; build-plugin.sh --from-image gives a directory that
#      `docker plugin create` accepts (the plugin is never enabled).
#
#   packaging/check-dockerfile.sh [--fresh-base] [--keep]
#     --fresh-base   debootstrap again even if the cached minbase tarball is recent
#     --keep         leave the work directory (logs, plugin dir) in place; dockerd is stopped anyway
#   env: WEAVE_CHECK_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#        WEAVE_CHECK_CACHE    where the minbase tarball is kept (default /var/cache/weave-test)
#
# Needs root, dockerd, docker, debootstrap, tar, unshare, setsid, node/npm. Everything it starts (dockerd, its
# containerd, the build's containers) is stopped by PID and its files removed on exit, also on
# failure or Ctrl-C.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
mirror="${WEAVE_CHECK_MIRROR:-http://deb.debian.org/debian}"
cache="${WEAVE_CHECK_CACHE:-/var/cache/weave-test}"
minbase_tar="$cache/bookworm-minbase.tar"
# A stale minbase still builds (the Dockerfile's apt-get pulls whatever newer libraries its
# packages need), so the tarball is only refreshed now and then to keep that download small.
minbase_max_age_days=30
base_image="weave-node-base:bookworm"
image="weave:latest"
fresh_base=0
keep=0
for a in "$@"; do
  case "$a" in
    --fresh-base) fresh_base=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--fresh-base] [--keep]" >&2; exit 2 ;;
  esac
done

say() { printf 'check-dockerfile: %s\n' "$*"; }
die() { printf 'check-dockerfile: FAIL: %s\n' "$*" >&2; exit 1; }
t0=$SECONDS
step() { say "[$((SECONDS - t0)) s] $*"; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, dockerd)"
for t in dockerd docker debootstrap tar node npm unshare setsid; do
  command -v "$t" >/dev/null || die "$t is not installed (Debian: docker.io debootstrap tar util-linux nodejs)"
done
[ -f "$repo/Dockerfile" ] || die "no Dockerfile in $repo"

# Short path: containerd's socket lives under the exec root and unix socket paths are limited
# to 108 bytes.
work="$(mktemp -d /tmp/wv-dfc.XXXXXX)"
cgroup="weave-dfcheck-$$"
dockerd_pid=""
step_pid=""
mntns=""
made_etc_docker=0
export DOCKER_HOST="unix://$work/docker.sock"
# Debian's docker.io ships no buildx, so BuildKit is not what the team has: ask for the classic
# builder explicitly, whichever docker CLI is on PATH.
export DOCKER_BUILDKIT=0

# Bash runs a trap only once the foreground command has returned, so a SIGTERM (a test
# runner's timeout) would wait for the whole build. Long steps therefore run in the background,
# in a process group of their own that cleanup can stop, and the script waits for them.
run() {
  setsid "$@" &
  step_pid=$!
  local rc=0
  wait "$step_pid" || rc=$?
  step_pid=""
  return "$rc"
}

# The script's own stdout and stderr: a trap runs with the redirections of whatever it
# interrupted (run ... >build.log), and cleanup must still be heard.
exec 3>&1 4>&2

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  exec 1>&3 2>&4
  if [ -n "$step_pid" ] && kill -0 "$step_pid" 2>/dev/null; then
    say "stopping the running step (process group $step_pid)"
    kill -TERM -- "-$step_pid" 2>/dev/null || kill -TERM "$step_pid"
    for _ in $(seq 1 50); do kill -0 "$step_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$step_pid" 2>/dev/null
  fi
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    step "stopping dockerd (pid $dockerd_pid)"
    # dockerd stops its containers and its own containerd on SIGTERM
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 300); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
      say "dockerd did not stop within 30 s: SIGKILL"
      kill -KILL "$dockerd_pid"
    fi
  fi
  # What a killed dockerd leaves: its containerd and the shims (in its mount namespace; it dies
  # with them, and the build's overlay mounts with it), and processes of build containers (they
  # have mount namespaces of their own but are in our cgroup).
  local p d left cpid
  # before dockerd answered, only its containerd's pid file tells where that is
  cpid="$(cat "$work/exec/containerd/containerd.pid" 2>/dev/null || true)"
  if [[ "$cpid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$cpid/comm" 2>/dev/null)" = containerd ]; then
    say "stopping leftover containerd (pid $cpid)"
    kill -KILL "$cpid"
  fi
  if [ -n "$mntns" ]; then
    for _ in $(seq 1 50); do
      left=""
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mntns" ] && left="$left ${p#/proc/}"
      done
      [ -z "$left" ] && break
      say "stopping what is left in dockerd's mount namespace:$left"
      # shellcheck disable=SC2086 # a list of PIDs
      kill -KILL $left 2>/dev/null
      sleep 0.1
    done
  fi
  for d in /sys/fs/cgroup/*/"$cgroup" /sys/fs/cgroup/"$cgroup"; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do
      say "killing leftover build process $p"; kill -KILL "$p" 2>/dev/null
    done
    sleep 0.2
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$d" ] && say "could not remove cgroup $d"
  done
  [ "$made_etc_docker" = 1 ] && rmdir /etc/docker 2>/dev/null
  rm -f "$minbase_tar.$$.tmp"
  if [ "$keep" = 1 ]; then
    say "kept $work (dockerd.log, build.log, plugin/)"
  else
    rm -rf "$work"
  fi
  if [ "$rc" = 0 ]; then say "OK ($((SECONDS - t0)) s)"; else say "FAILED (exit $rc, $((SECONDS - t0)) s)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. the stand-in base image ----------------------------------------------------------------

if [ "$fresh_base" = 1 ] || [ -z "$(find "$minbase_tar" -mtime -"$minbase_max_age_days" 2>/dev/null)" ]; then
  step "debootstrap --variant=minbase bookworm from $mirror (cached as $minbase_tar)"
  mkdir -p "$cache"
  rootfs="$work/minbase"
  # its own mount namespace: the /proc and /sys it mounts in the target vanish with it, even
  # when it is interrupted
  run unshare --mount --propagation private \
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  # What debian:bookworm-slim looks like: no package lists or downloaded .debs, docs and
  # locales left out (also for packages installed later), the same three suites.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/etc/apt/sources.list
  rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/info/*
EOF
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  tar -C "$rootfs" --numeric-owner -cf "$minbase_tar.$$.tmp" .
  mv "$minbase_tar.$$.tmp" "$minbase_tar"
  rm -rf "$rootfs"
else
  step "using cached $minbase_tar ($(( ($(date +%s) - $(stat -c %Y "$minbase_tar")) / 86400 )) days old; --fresh-base to rebuild)"
fi

step "adding this machine's node $(node --version) and npm $(npm --version) under /usr/local"
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
node_inc="$(dirname "$(dirname "$node_bin")")/include/node"
[ -f "$npm_dir/package.json" ] || die "cannot find npm's package directory (got $npm_dir)"
[ -f "$node_inc/common.gypi" ] || die "node headers not found at $node_inc (node-gyp needs them)"
stage="$work/node-layer"
mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules" "$stage/usr/local/include"
install -m 0755 "$node_bin" "$stage/usr/local/bin/node"
cp -a "$npm_dir" "$stage/usr/local/lib/node_modules/npm"
cp -a "$node_inc" "$stage/usr/local/include/node"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
layer=(./usr/local/bin/node ./usr/local/bin/npm ./usr/local/bin/npx ./usr/local/lib/node_modules ./usr/local/include/node)
# Where this machine's npm reaches the registry through a TLS-intercepting proxy, it trusts that
# proxy's CA through its `cafile` setting; give the stand-in's npm the same file, or `npm ci` in
# the build fails with SELF_SIGNED_CERT_IN_CHAIN. The official image has no such setting.
cafile="$(npm config get cafile 2>/dev/null || true)"
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
  say "this machine's npm trusts $cafile: the stand-in's npm gets it too (/usr/local/etc/npmrc)"
  mkdir -p "$stage/usr/local/etc"
  cp "$cafile" "$stage/usr/local/etc/npm-ca.pem"
  printf 'cafile=/usr/local/etc/npm-ca.pem\n' >"$stage/usr/local/etc/npmrc"
  layer+=(./usr/local/etc/npm-ca.pem ./usr/local/etc/npmrc)
fi
cp "$minbase_tar" "$work/base.tar"
tar -C "$stage" --numeric-owner -rf "$work/base.tar" "${layer[@]}"
rm -rf "$stage"

# --- 2. a throwaway dockerd ----------------------------------------------------------------------

step "starting dockerd (root netns, own mount ns; no bridge/iptables/forwarding; files under $work)"
mkdir -p "$work/data" "$work/exec"
echo '{}' >"$work/daemon.json"
# dockerd 20.10 writes some fixed paths whatever its flags say (/etc/docker/key.json,
# /run/docker/plugins, /run/containerd/s for the shims' sockets) and would use a system
# containerd it finds at /run/containerd/containerd.sock. A private mount namespace with tmpfs
# over /run and /etc/docker keeps all of that ours and gone when it exits; the overlay mounts of
# the build stay in there too. The network namespace is the root one: RUN steps need the mirrors.
if [ ! -d /etc/docker ]; then mkdir /etc/docker; made_etc_docker=1; fi
# The root netns is the machine's real network: nothing here may add an address, a route, a
# bridge, a firewall rule or turn on forwarding. --config-file keeps a system daemon.json out.
unshare --mount --propagation private -- bash -c '
  mount -t tmpfs -o mode=0755 wv-dfc-run /run
  mount -t tmpfs -o mode=0755 wv-dfc-etc-docker /etc/docker
  exec "$@"' dockerd-in-mntns \
  dockerd \
  --config-file="$work/daemon.json" \
  --data-root="$work/data" --exec-root="$work/exec" --pidfile="$work/dockerd.pid" \
  -H "$DOCKER_HOST" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
  --userland-proxy=false \
  --cgroup-parent="/$cgroup" --storage-driver=overlay2 \
  >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 300); do
  docker version >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$work/dockerd.log" >&2; die "dockerd exited (log above)"; }
  sleep 0.1
done
docker version >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; die "dockerd did not answer within 30 s"; }
# Read only now: before unshare() ran, the new process was still in our own mount namespace,
# and cleanup kills whatever is in this one.
mntns="$(readlink "/proc/$dockerd_pid/ns/mnt")"
[ "$mntns" != "$(readlink /proc/$$/ns/mnt)" ] || die "dockerd is not in a mount namespace of its own"
say "dockerd pid $dockerd_pid, $(docker version -f 'server {{.Server.Version}}, client {{.Client.Version}}')"

step "docker import -> $base_image"
run docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c "ENV NODE_VERSION=$(node --version | sed 's/^v//')" \
  -c 'CMD ["node"]' \
  -m 'stand-in for node:20-bookworm-slim: debootstrap minbase + this machine node/npm' \
  "$work/base.tar" "$base_image" >/dev/null
rm -f "$work/base.tar"
docker run --rm --network none "$base_image" sh -c 'node --version && npm --version' >/dev/null \
  || die "the stand-in base cannot run node/npm"

# --- 3. the build --------------------------------------------------------------------------------

step "DOCKER_BUILDKIT=0 docker build --network host --build-arg NODE_IMAGE=$base_image -t $image (log: build.log)"
build_t0=$SECONDS
if ! run docker build --network host --build-arg NODE_IMAGE="$base_image" -t "$image" "$repo" >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log" >&2
  die "docker build failed (last lines above)"
fi
build_s=$((SECONDS - build_t0))
step "built $image in $build_s s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"

# --- 4. checks -----------------------------------------------------------------------------------

want="$(node -p 'require(process.argv[1]).version' "$repo/package.json")"
got="$(docker run --rm --network none "$image" weave version)"
[ "$got" = "$want" ] || die "weave version in the image printed '$got', package.json says '$want'"
say "weave version in the image: $got (= package.json)"

# The daemon needs both native addons at run time; a missing shared library shows only here.
docker run --rm --network none -w /app "$image" node -e '
  require("/app/datapath/native/build/Release/weave_native.node");
  require("sodium-native");
' || die "the native addons do not load in the image"
say "netlink addon and sodium-native load in the image"

shipped="$(docker run --rm --network none "$image" node -e '
  const fs = require("fs");
  console.log(["node-gyp", "node-addon-api", "typescript", "mocha", "tsx"].filter((p) => fs.existsSync("/app/node_modules/" + p)).join(" "));
')"
[ -z "$shipped" ] || die "the image ships build-only or dev packages: $shipped"
say "no build-only packages in /app/node_modules"

step "packaging/build-plugin.sh --from-image $image"
run bash "$repo/packaging/build-plugin.sh" --from-image "$image" "$work/plugin"
docker plugin create "$image" "$work/plugin" >/dev/null
docker plugin inspect "$image" | node -e '
  const [p] = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const want = require(process.argv[1]);
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  if (p.Enabled !== false) throw new Error("the plugin is enabled");
  if (!same(p.Config.Entrypoint, want.entrypoint)) throw new Error("entrypoint " + JSON.stringify(p.Config.Entrypoint));
  if (!same(p.Config.Interface.Types, want.interface.types)) throw new Error("types " + JSON.stringify(p.Config.Interface.Types));
' "$repo/config.json" || die "docker plugin inspect $image does not match config.json"
say "docker plugin create accepted it (disabled; entrypoint and interface as in config.json); not enabled here"
docker plugin rm "$image" >/dev/null
[ -z "$(docker ps -aq)" ] || die "containers left behind: $(docker ps -aq | tr '\n' ' ')"
step "all checks passed; the build itself took $build_s s"
