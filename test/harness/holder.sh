#!/bin/sh
# Namespace holder of one lab host. Started already inside the host's netns and a fresh
# private mount + UTS namespace; prepares the per-host view of the filesystem, records its PID
# and then just sleeps so the namespaces stay alive for everything `nsenter`ed into them.
#   holder.sh HOSTNAME STATE_DIR
set -eu
name=$1
d=$2

echo "$name" >/proc/sys/kernel/hostname

# This mount ns is a copy of the root one, including nsfs bind mounts under /run/netns of
# namespaces other tools (and other lab hosts) created: drop them in this copy, or this host
# would keep those network namespaces alive after their owners delete them.
findmnt -rn -t nsfs -o TARGET | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done

mount --bind "$d/run" /run
mkdir -p /run/docker/plugins /run/lock /run/netns
mkdir -p /etc/docker /var/lib/docker /var/lib/weave
mount --bind "$d/etc-docker" /etc/docker
mount --bind "$d/docker" /var/lib/docker
mount --bind "$d/weave" /var/lib/weave

# Real hosts have distinct machine ids, and weave derives its peer name from it: give each lab
# host its own, or every host would claim the same peer name.
if [ ! -s "$d/machine-id" ]; then
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$d/machine-id"
  echo >>"$d/machine-id"
fi
[ -e /etc/machine-id ] || : >/etc/machine-id
mount --bind "$d/machine-id" /etc/machine-id

# sysfs shows the netns of whoever mounts it: mount a fresh one from inside this netns so
# /sys/class/net is this host's view, and move the cgroup tree back on top for dockerd.
mkdir -p "$d/.cg"
mount --rbind /sys/fs/cgroup "$d/.cg"
mount -t sysfs wv-sysfs /sys
mount --move "$d/.cg" /sys/fs/cgroup
rmdir "$d/.cg" 2>/dev/null || true

echo $$ >"$d/holder.pid.tmp"
mv "$d/holder.pid.tmp" "$d/holder.pid"
exec sleep infinity
