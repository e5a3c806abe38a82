#!/bin/bash
# weave-vm.sh - the project's QEMU harness: boot Debian's stock kernel (it ships
# the Open vSwitch datapath, which the host kernel may lack) with this machine's
# own root filesystem, run one command in it, hand back its output and status.
#
#   weave-vm.sh [-m MEM] [-c CPUS] [-t SECS] [-w DIR]... [-v] -- COMMAND [ARGS...]
#   weave-vm.sh --setup           install packages, fetch the kernel, build the initramfs
#
# The guest sees the host / read-only over 9p under a tmpfs overlay (its writes
# are lost at poweroff), a fresh /run, the caller's cwd and environment, stdin
# /dev/null and no network device at all. -w DIR shares DIR read-write at the
# same path so results can come back.  Exit status: COMMAND's, 124 timeout,
# 125 harness failure.
# Environment: WEAVE_VM_CACHE (default /var/cache/weave-test/vm), WEAVE_VM_KPKG
# (pin a kernel package), WEAVE_VM_ACCEL (auto|kvm|tcg), WEAVE_VM_MODULES
# (loaded before COMMAND), WEAVE_VM_VERBOSE=1 (kernel console to stderr).
set -euo pipefail

me=$(readlink -f "$0")
cache=${WEAVE_VM_CACHE:-/var/cache/weave-test/vm}
mem=2G; cpus=$(nproc); limit=1800; verbose=${WEAVE_VM_VERBOSE:-0}; setup_only=0
accel=${WEAVE_VM_ACCEL:-auto}
modules=${WEAVE_VM_MODULES-openvswitch vport_vxlan vxlan veth tun}
shares=()

fatal() { echo "weave-vm: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
  case "$1" in
    -m) mem=$2; shift 2 ;;
    -c) cpus=$2; shift 2 ;;
    -t) limit=$2; shift 2 ;;
    -w) [ -d "$2" ] || fatal "-w $2: not a directory"; shares+=("$(readlink -f "$2")"); shift 2 ;;
    -v) verbose=1; shift ;;
    --setup) setup_only=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -e/p' "$me" | sed '$d'; exit 0 ;;
    *) break ;;
  esac
done
[ "$setup_only" = 1 ] || [ $# -gt 0 ] || fatal "usage: weave-vm.sh [options] -- COMMAND [ARGS...]"
[ "$(id -u)" = 0 ] || fatal "needs root: it exports / over 9p and installs packages with apt-get"

# Concurrent first runs would fight over apt and half-written cache entries.
mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8

# --- host tools -------------------------------------------------------------
missing=()
for pkg in qemu-system-x86 busybox-static kmod xz-utils binutils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "weave-vm: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; } \
    || fatal "apt-get install ${missing[*]} failed"
fi

# --- guest kernel: Debian's, unpacked (never installed into /boot) -----------
kpkg=${WEAVE_VM_KPKG:-}
if [ -z "$kpkg" ] && [ -s "$cache/kernel-package" ]; then kpkg=$(cat "$cache/kernel-package"); fi
if [ -z "$kpkg" ]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$kpkg" ]; then apt-get update >&2 || true
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); fi
  [ -n "$kpkg" ] || fatal "cannot tell which linux-image-*-amd64 Debian ships (apt-cache depends linux-image-amd64)"
fi
kver=${kpkg#linux-image-}
kroot=$cache/$kpkg
if [ ! -e "$kroot/.complete" ]; then
  echo "weave-vm: downloading $kpkg (about 100 MB, unpacks to about 435 MB; cached in $cache)" >&2
  rm -rf "$kroot" "$cache/download"; mkdir -p "$cache/download"
  ( cd "$cache/download" && apt-get download "$kpkg" >&2 ) \
    || { apt-get update >&2 && ( cd "$cache/download" && apt-get download "$kpkg" >&2 ); } \
    || fatal "apt-get download $kpkg failed"
  dpkg-deb -x "$cache"/download/*.deb "$kroot" || fatal "dpkg-deb -x failed"
  # Signatures are not enforced in the guest and checking them under emulation is slow.
  find "$kroot/lib/modules" -name '*.ko' -print0 | xargs -0 -r -n 200 strip --strip-debug
  depmod -b "$kroot" "$kver" || fatal "depmod failed"
  for m in openvswitch vport-vxlan vxlan 9p 9pnet_virtio overlay virtio_console; do
    grep -q "/$m.ko:" "$kroot/lib/modules/$kver/modules.dep" || fatal "$kpkg has no $m.ko"
  done
  rm -rf "$cache/download"
  touch "$kroot/.complete"
fi
echo "$kpkg" > "$cache/kernel-package"
moddir=$kroot/lib/modules/$kver
case "$moddir" in *[[:space:]]*) fatal "the cache path must not contain blanks" ;; esac

# The bzImage decompresses itself in the guest, which takes seconds under
# emulation; the raw vmlinux boots directly through its PVH note when it has one.
kernel=$kroot/boot/vmlinuz-$kver
raw=$cache/vmlinux-$kver
if [ ! -e "$raw" ]; then
  if ( set +o pipefail
       at=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$kernel" | head -n 1 | cut -d: -f1)
       [ -n "$at" ] && tail -c +$((at + 1)) "$kernel" | xz -dc --single-stream > "$raw.part" 2>/dev/null
       readelf -n "$raw.part" 2>/dev/null | grep -qE 'PHYS32_ENTRY|note type: \(0x00000012\)' ); then
    mv "$raw.part" "$raw"
  else rm -f "$raw.part"; : > "$raw"; fi
fi
[ -s "$raw" ] && kernel=$raw

# --- initramfs: busybox + the modules to reach the host root + $modules -----
tag=$(printf '%s|%s' "$modules" "$(md5sum < "$me" | cut -c1-8)" | md5sum | cut -c1-10)
initrd=$cache/initrd-$kver-$tag.cpio.gz
if [ ! -s "$initrd" ]; then
  work=$(mktemp -d "$cache/initrd.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/{bin,ko,proc,sys,dev,host,upper,root,xchg}
  cp /bin/busybox "$work/bin/"
  for m in virtio_pci virtio_console 9pnet_virtio 9p overlay $modules; do
    modprobe -d "$kroot" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}' \
      || fatal "$kpkg has no module $m"
  done | awk '!seen[$0]++' | while read -r ko; do cp "$ko" "$work/ko/"; basename "$ko"; done > "$work/ko/load-order"
  sed -n '/^: <<.INIT1.$/,/^INIT1$/p' "$me" | sed '1d;$d' > "$work/init"
  chmod 755 "$work/init"
  ( cd "$work" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null | gzip -1 ) > "$initrd.part"
  mv "$initrd.part" "$initrd"
  rm -rf "$work"; trap - EXIT
fi
flock -u 8; exec 8>&-
if [ "$setup_only" = 1 ]; then echo "weave-vm: ready (kernel $kver)" >&2; exit 0; fi

# --- accelerator --------------------------------------------------------------
if [ "$accel" = auto ]; then
  # Only hardware KVM runs a stock guest kernel; a PVM-only /dev/kvm (kvm_pvm)
  # hangs it, so anything else means TCG.
  accel=tcg
  if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then accel=kvm; fi
fi
case "$accel" in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  tcg) accel_args=(-accel tcg,thread=multi,tb-size=512 -cpu max,la57=off) ;;
  *) fatal "unknown accelerator $accel" ;;
esac

# --- one run ------------------------------------------------------------------
run=$(mktemp -d "${TMPDIR:-/tmp}/weave-vm.XXXXXX")
qemu_pid=; drains=()
finish() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  [ ${#drains[@]} -gt 0 ] && kill "${drains[@]}" 2>/dev/null
  rm -rf "$run"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf 'kver=%q\nmoddir=%q\n' "$kver" "$moddir" > "$run/config"
: > "$run/shares"
fsargs=(-fsdev "local,id=root,path=/,security_model=none,multidevs=remap,readonly=on"
        -device "virtio-9p-pci,fsdev=root,mount_tag=wv.root"
        -fsdev "local,id=xchg,path=$run,security_model=none,multidevs=remap"
        -device "virtio-9p-pci,fsdev=xchg,mount_tag=wv.xchg")
n=0
for d in "${shares[@]}"; do
  echo "wv.rw$n $d" >> "$run/shares"
  fsargs+=(-fsdev "local,id=rw$n,path=$d,security_model=none,multidevs=remap"
           -device "virtio-9p-pci,fsdev=rw$n,mount_tag=wv.rw$n")
  n=$((n + 1))
done
# The command script: the caller's environment, cwd and argv, shell-quoted.
{
  while IFS= read -r -d '' kv; do
    k=${kv%%=*}
    [[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    case "$k" in PWD|OLDPWD|SHLVL|_|HOSTNAME|BASH_*|WEAVE_VM_*) continue ;; esac
    printf 'export %s=%q\n' "$k" "${kv#*=}"
  done < <(env -0)
  printf 'cd %q || exit 125\nexec' "$PWD"; printf ' %q' "$@"; printf '\n'
} > "$run/command"
sed -n '/^: <<.INIT2.$/,/^INIT2$/p' "$me" | sed '1d;$d' > "$run/init2"

# Guest stdout/stderr arrive on virtio-serial ports that QEMU writes into FIFOs;
# cat relays them, whatever kind of fd our own stdout/stderr are.
mkfifo "$run/stdout" "$run/stderr"
cat "$run/stdout" & drains+=($!)
cat "$run/stderr" >&2 & drains+=($!)
if [ "$verbose" = 1 ]; then
  mkfifo "$run/console"; cat "$run/console" >&2 & drains+=($!)
  console=(-chardev "file,id=con,path=$run/console" -serial chardev:con)
else
  console=(-serial "file:$run/console.log")
fi
bios=(); [ -e /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)

set +e
timeout -k 5 "$limit" qemu-system-x86_64 -name weave-vm -machine q35 "${bios[@]}" "${accel_args[@]}" \
  -smp "$cpus" -m "$mem" -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp" \
  "${console[@]}" "${fsargs[@]}" -device virtio-serial-pci \
  -chardev "file,id=out,path=$run/stdout" -device virtserialport,chardev=out,name=wv.stdout \
  -chardev "file,id=err,path=$run/stderr" -device virtserialport,chardev=err,name=wv.stderr \
  -device virtio-rng-pci < /dev/null &
qemu_pid=$!
wait "$qemu_pid"; qrc=$?
qemu_pid=
set -e
# Opening a FIFO read-write never blocks: this releases a cat still waiting to
# open it when QEMU died before opening its end.
for f in "$run/stdout" "$run/stderr" "$run/console"; do [ -p "$f" ] && { exec 7<>"$f"; exec 7>&-; }; done
wait "${drains[@]}" 2>/dev/null || true
drains=()

tail_console() { [ -f "$run/console.log" ] && tail -n 40 "$run/console.log" >&2 || true; }
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then echo "weave-vm: timed out after ${limit}s" >&2; tail_console; exit 124; fi
if [ -s "$run/init-failed" ]; then echo "weave-vm: guest init failed: $(cat "$run/init-failed")" >&2; tail_console; exit 125; fi
if [ ! -s "$run/status" ]; then echo "weave-vm: guest gave no exit status (qemu $qrc)" >&2; tail_console; exit 125; fi
exit "$(cat "$run/status")"

# The guest's two init stages follow; the host shell never reaches them.
: <<'INIT1'
#!/bin/busybox sh
# PID 1 in the initramfs: load modules, mount the host root under an overlay, switch to it.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
die() { echo "weave-vm init: $*" > /dev/console; [ -e /xchg/config ] && echo "$*" > /xchg/init-failed; sync; poweroff -f; sleep 10; }
while read -r ko; do insmod "/ko/$ko" 2>/dev/null || echo "weave-vm init: insmod $ko failed" > /dev/console; done < /ko/load-order
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,cache=mmap" wv.xchg /xchg || die "no exchange share"
. /xchg/config
mount -t 9p -o "$opts,cache=loose,ro" wv.root /host || die "no host root share"
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/host,upperdir=/upper/data,workdir=/upper/work overlay /root || die "overlay mount failed"
for d in proc sys dev; do mount --move /$d /root/$d; done
mkdir -p /root/dev/pts /root/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /root/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /root/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /root/run
mkdir -p /root/weave-vm
mount --move /xchg /root/weave-vm
# modprobe in the guest must find Debian's modules, wherever the cache lives
mkdir -p "/root/usr/lib/modules/$kver"
mount --bind "/host$moddir" "/root/usr/lib/modules/$kver" || die "cannot bind the module tree"
while read -r t path; do
  [ -n "$t" ] || continue
  mkdir -p "/root$path"; mount -t 9p -o "$opts,cache=mmap" "$t" "/root$path" || die "cannot mount share $path"
done < /root/weave-vm/shares
mkdir -p /root/run/weave-vm; cp /bin/busybox /root/run/weave-vm/busybox
exec switch_root /root /run/weave-vm/busybox sh /weave-vm/init2
INIT1
: <<'INIT2'
# PID 1 in the real root. Runs from a busybox copy in /run so only COMMAND reads over 9p.
bb=/run/weave-vm/busybox
. /weave-vm/config
$bb hostname weave-vm
$bb ip link set lo up
echo /usr/sbin/modprobe > /proc/sys/kernel/modprobe
port() { for p in /sys/class/virtio-ports/*; do [ "$($bb cat "$p/name")" = "$1" ] && { echo "/dev/${p##*/}"; return; }; done; echo /dev/console; }
out=$(port wv.stdout); err=$(port wv.stderr)
# bash, not busybox sh, so that PATH lookups find the host's tools
/bin/bash /weave-vm/command < /dev/null > "$out" 2> "$err"
echo $? > /weave-vm/status
$bb sync
$bb poweroff -f
$bb sleep 10
INIT2
