#!/usr/bin/env bash
# Build and install the Mosquitto broker the platform runs locally: Debian trixie's
# source package (2.0.21) with the patches in scripts/patches/, into a private prefix
# (default /opt/prognos/mosquitto). The machine's own Mosquitto is left alone.
#
# Why not the distribution's: before 2.0.12 (Debian bookworm ships 2.0.11) a durable
# client's shared subscription is not recovered when it reconnects after a restart, and
# up to 2.0.21 shared subscriptions are not saved in the persistence file at all: after
# a broker restart every message for the ingest workers' share group finds no
# subscriber, is acknowledged to its publisher and dropped, until each worker
# subscribes again. scripts/patches/mosquitto-persist-shared-subscriptions.patch saves
# them (docs/protocol.md, "What an external broker needs").
#
# usage: scripts/build-mosquitto.sh [PREFIX] [WORKDIR]
set -euo pipefail

prefix=${1:-/opt/prognos/mosquitto}
workdir=${2:-${TMPDIR:-/tmp}/prognos-mosquitto-build}

say() { printf '[build-mosquitto] %s\n' "$*"; }

patches_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/patches"
stamp=$(cat "$patches_dir"/mosquitto-*.patch | sha256sum | cut -d' ' -f1)
if [ -x "$prefix/sbin/mosquitto" ] && [ "$(cat "$prefix/PATCHES" 2>/dev/null)" = "$stamp" ]; then
    say "already installed: $("$prefix/sbin/mosquitto" -h | head -n 1), patched"
    exit 0
fi

# shellcheck source=scripts/lib/debian-source.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/debian-source.sh"
rm -rf "$workdir/src"/mosquitto-*/  # unpack afresh, so each patch applies exactly once
srcdir=$(debian_source mosquitto "$workdir")
cd "$srcdir"
for patch in "$patches_dir"/mosquitto-*.patch; do
    say "applying $(basename "$patch")"
    patch -p1 --forward --quiet <"$patch"
done

say "building $(basename "$srcdir") (broker and mosquitto_passwd, with TLS for password hashing)"
rm -rf build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DWITH_TLS=ON -DWITH_CJSON=OFF -DDOCUMENTATION=OFF -DWITH_WEBSOCKETS=OFF -DWITH_SRV=OFF \
    -DWITH_SYSTEMD=OFF -DWITH_DLT=OFF -DWITH_CLIENTS=OFF -DWITH_APPS=ON -DWITH_PLUGINS=OFF \
    >"$workdir/cmake.log" 2>&1 || { tail -n 40 "$workdir/cmake.log" >&2; exit 1; }
make -C build -j"$(nproc)" >"$workdir/make.log" 2>&1 || { tail -n 40 "$workdir/make.log" >&2; exit 1; }
make -C build install >"$workdir/install.log" 2>&1 || { tail -n 40 "$workdir/install.log" >&2; exit 1; }
echo "$stamp" >"$prefix/PATCHES"
say "installed $("$prefix/sbin/mosquitto" -h | head -n 1) into $prefix"
