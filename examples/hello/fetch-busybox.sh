#!/bin/sh
# Fetches the statically linked busybox binary from the host's configured apt repository
# (Debian's busybox-static package) into this directory, where env.kdl copies it from.
# No root needed; nothing is installed on the host.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$here/busybox" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -o APT::Sandbox::User="$(id -un)" download busybox-static >/dev/null)
dpkg-deb -x "$work"/busybox-static_*.deb "$work/root"
cp "$work/root/bin/busybox" "$here/busybox"
chmod 0755 "$here/busybox"
echo "fetched $here/busybox"
