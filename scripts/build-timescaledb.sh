#!/usr/bin/env bash
# Build and install the TimescaleDB extension (Apache-2 edition) from Debian trixie's
# source package, for a PostgreSQL whose distribution ships no TimescaleDB package
# (Debian bookworm). The machine's own apt sources are never touched: a private
# sources list with one deb-src line, pointing at the mirror the machine already uses,
# is passed to apt-get with -o options.
#
# usage: scripts/build-timescaledb.sh PG_CONFIG [WORKDIR]
set -euo pipefail

pg_config=${1:?usage: build-timescaledb.sh PG_CONFIG [WORKDIR]}
workdir=${2:-${TMPDIR:-/tmp}/prognos-timescaledb-build}

say() { printf '[build-timescaledb] %s\n' "$*"; }

ext_dir="$("$pg_config" --sharedir)/extension"
if [ -f "$ext_dir/timescaledb.control" ]; then
    say "already installed in $ext_dir"
    exit 0
fi

# shellcheck source=scripts/lib/debian-source.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/debian-source.sh"
srcdir=$(debian_source timescaledb "$workdir")
cd "$srcdir"

say "building $(basename "$srcdir") against $("$pg_config" --version)"
rm -rf build
./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
    -DPG_CONFIG="$pg_config" >"$workdir/bootstrap.log" 2>&1 \
    || { tail -n 40 "$workdir/bootstrap.log" >&2; exit 1; }
make -C build -j"$(nproc)" >"$workdir/make.log" 2>&1 || { tail -n 40 "$workdir/make.log" >&2; exit 1; }
make -C build install >"$workdir/install.log" 2>&1 || { tail -n 40 "$workdir/install.log" >&2; exit 1; }
say "installed into $ext_dir"
