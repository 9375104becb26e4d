#!/usr/bin/env bash
# Install what Prognos needs on a Debian/Ubuntu machine, idempotently:
#   - Python 3.11+ with venv, and a virtualenv (.venv) holding the package;
#   - PostgreSQL 15+ with the TimescaleDB extension and Mosquitto, unless external
#     servers are configured (PROGNOS_DATABASE_URL / PROGNOS_MQTT_URL) and --services
#     is not "local".
# Nothing is started here and the machine's own services are never touched: the
# project runs private instances of its own (prognos up / the test fixtures).
#
# usage: scripts/bootstrap.sh [--dev] [--services auto|local]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dev=0
services=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --dev) dev=1 ;;
        --services) services=$2; shift ;;
        *) echo "bootstrap: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

need_pg=1
need_mqtt=1
if [ "$services" = auto ]; then
    [ -n "${PROGNOS_DATABASE_URL:-}" ] && need_pg=0
    [ -n "${PROGNOS_MQTT_URL:-}" ] && need_mqtt=0
fi

# --- apt helpers -------------------------------------------------------------------
apt_updated=0
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}
apt_install() {
    command -v apt-get >/dev/null 2>&1 \
        || die "missing $*; this machine has no apt-get: install them with its package manager and run again"
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        as_root apt-get update -qq >/dev/null
        apt_updated=1
    fi
    say "installing: $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}
apt_has_candidate() {
    local cand
    cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$cand" ] && [ "$cand" != "(none)" ]
}

# --- Python ------------------------------------------------------------------------
find_python() {
    local py
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 \
            && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    return 1
}
python=$(find_python) || { apt_install python3 python3-venv; python=$(find_python) \
    || die "Python 3.11+ is required and the distribution's python3 is older: install python3.11 and python3.11-venv"; }
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python$ver-venv"
fi

# --- PostgreSQL + TimescaleDB --------------------------------------------------------
find_pg_bindir() {
    local d best="" bestv=0 v
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/postgres" ] || continue
        v=$(basename "$(dirname "$d")"); v=${v%%.*}
        if [ "$v" -ge 15 ] && [ "$v" -gt "$bestv" ]; then best=$d; bestv=$v; fi
    done
    [ -n "$best" ] && echo "$best"
}
if [ "$need_pg" = 1 ]; then
    pg_bindir=$(find_pg_bindir) || true
    if [ -z "${pg_bindir:-}" ]; then
        apt_install postgresql-common postgresql
        pg_bindir=$(find_pg_bindir) \
            || die "PostgreSQL 15+ is required and the distribution offers an older one: add the PostgreSQL (PGDG) apt repository and install postgresql-15"
    fi
    pg_major=$(basename "$(dirname "$pg_bindir")")
    sharedir="/usr/share/postgresql/$pg_major"
    if [ ! -f "$sharedir/extension/timescaledb.control" ]; then
        pkg=""
        for cand in "timescaledb-2-postgresql-$pg_major" "postgresql-$pg_major-timescaledb"; do
            if apt_has_candidate "$cand"; then pkg=$cand; break; fi
        done
        if [ -z "$pkg" ] && [ "$apt_updated" = 0 ]; then
            as_root apt-get update -qq >/dev/null; apt_updated=1
            for cand in "timescaledb-2-postgresql-$pg_major" "postgresql-$pg_major-timescaledb"; do
                if apt_has_candidate "$cand"; then pkg=$cand; break; fi
            done
        fi
        if [ -n "$pkg" ]; then
            apt_install "$pkg"
        else
            say "no TimescaleDB package for PostgreSQL $pg_major here: building it from source"
            missing=()
            for p in "postgresql-server-dev-$pg_major" cmake make gcc dpkg-dev debian-archive-keyring; do
                dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
            done
            [ ${#missing[@]} -gt 0 ] && apt_install "${missing[@]}"
            as_root "$root/scripts/build-timescaledb.sh" "/usr/lib/postgresql/$pg_major/bin/pg_config" \
                "${TMPDIR:-/tmp}/prognos-timescaledb-build"
        fi
        [ -f "$sharedir/extension/timescaledb.control" ] || die "TimescaleDB did not install for PostgreSQL $pg_major"
    fi
fi

# --- Mosquitto, patched ----------------------------------------------------------------------
# The local broker is Mosquitto 2.0.21 with the patches in scripts/patches/, built
# from Debian trixie's source into /opt/prognos/mosquitto (scripts/build-mosquitto.sh
# says why; it returns at once when the build is current).
if [ "$need_mqtt" = 1 ]; then
    missing=()
    for p in cmake make gcc g++ libssl-dev dpkg-dev patch debian-archive-keyring; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] && apt_install "${missing[@]}"
    as_root "$root/scripts/build-mosquitto.sh" "${PROGNOS_MOSQUITTO_PREFIX:-/opt/prognos/mosquitto}" \
        "${TMPDIR:-/tmp}/prognos-mosquitto-build"
    # The broker drops privileges to this account when started as root.
    if [ "$(id -u)" = 0 ] && ! id mosquitto >/dev/null 2>&1; then
        say "creating the system user mosquitto"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mosquitto
    fi
fi

# --- Chromium, for the dashboard's browser tests ------------------------------------------
if [ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    apt_install chromium
fi

# --- virtualenv ------------------------------------------------------------------------
venv="$root/.venv"
hash=$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv with $python"
    "$python" -m venv "$venv"
fi
# A dev install holds everything a plain one needs.
if [ "$dev" = 1 ]; then stamps=("$venv/.installed-dev"); else stamps=("$venv/.installed" "$venv/.installed-dev"); fi
current=0
for s in "${stamps[@]}"; do
    if [ -f "$s" ] && [ "$(cat "$s")" = "$hash" ]; then current=1; fi
done
if [ "$current" = 0 ]; then
    say "installing the prognos package into $venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    if [ "$dev" = 1 ]; then "$venv/bin/python" -m pip install -q -e "$root[dev]"
    else "$venv/bin/python" -m pip install -q -e "$root"; fi
    echo "$hash" >"${stamps[0]}"
fi
say "ready"
