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
suite=${PROGNOS_TIMESCALEDB_SUITE:-trixie}

say() { printf '[build-timescaledb] %s\n' "$*"; }

ext_dir="$("$pg_config" --sharedir)/extension"
if [ -f "$ext_dir/timescaledb.control" ]; then
    say "already installed in $ext_dir"
    exit 0
fi

# The mirror the machine already uses for its Debian packages (never a host of ours).
mirror=$(
    { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
      grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1
) || true
if [ -z "$mirror" ]; then
    echo "build-timescaledb: no Debian mirror found in /etc/apt sources; install TimescaleDB" \
         "for $("$pg_config" --version) from its official packages and run again" >&2
    exit 1
fi

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$workdir/lists/partial" "$workdir/src"
cat >"$workdir/sources.list" <<SRC
deb-src [signed-by=$keyring] $mirror $suite main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$workdir/sources.list"
          -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$workdir/lists"
          -o "APT::Sandbox::User=root")

say "fetching the $suite source package from $mirror"
apt-get "${apt_opts[@]}" -qq update
cd "$workdir/src"
if ! ls -d timescaledb-*/ >/dev/null 2>&1; then
    apt-get "${apt_opts[@]}" -qq source --download-only timescaledb
    dpkg-source -x --no-check ./timescaledb_*.dsc >/dev/null
fi
srcdir=$(ls -d "$workdir"/src/timescaledb-*/ | head -n 1)
cd "$srcdir"

say "building $(basename "$srcdir") against $("$pg_config" --version)"
rm -rf build
./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
    -DPG_CONFIG="$pg_config" >"$workdir/bootstrap.log" 2>&1 \
    || { tail -n 40 "$workdir/bootstrap.log" >&2; exit 1; }
make -C build -j"$(nproc)" >"$workdir/make.log" 2>&1 || { tail -n 40 "$workdir/make.log" >&2; exit 1; }
make -C build install >"$workdir/install.log" 2>&1 || { tail -n 40 "$workdir/install.log" >&2; exit 1; }
say "installed into $ext_dir"
