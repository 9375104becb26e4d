# Fetch and unpack a Debian source package from another suite (trixie by default),
# without touching the machine's own apt sources: a private sources list with one
# deb-src line, pointing at the mirror the machine already uses, is passed to apt-get
# with -o options. Sourced by the build-*.sh scripts.
#
# debian_source PACKAGE WORKDIR   -> prints the unpacked source directory

debian_source() {
    local package=$1 workdir=$2 suite=${PROGNOS_DEBIAN_SOURCE_SUITE:-trixie}
    local mirror keyring srcdir
    # The mirror the machine already uses for its Debian packages (never a host of ours).
    mirror=$(
        { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
          grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
        } | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1
    ) || true
    if [ -z "$mirror" ]; then
        # Not a Debian machine (Ubuntu, say): Debian's own archive, checked with its keys.
        mirror=http://deb.debian.org/debian
        echo "[debian-source] no Debian mirror in this machine's apt sources: using $mirror" >&2
    fi
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    if [ ! -f "$keyring" ]; then
        echo "debian_source: $keyring is missing: install the package debian-archive-keyring" >&2
        return 1
    fi
    mkdir -p "$workdir/lists/partial" "$workdir/src"
    printf 'deb-src [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >"$workdir/sources.list"
    local apt_opts=(-o "Dir::Etc::SourceList=$workdir/sources.list"
                    -o "Dir::Etc::SourceParts=/dev/null"
                    -o "Dir::State::Lists=$workdir/lists"
                    -o "APT::Sandbox::User=root")
    echo "[debian-source] fetching the $suite source package $package from $mirror" >&2
    apt-get "${apt_opts[@]}" -qq update >&2
    (
        cd "$workdir/src"
        if ! ls -d "$package"-*/ >/dev/null 2>&1; then
            apt-get "${apt_opts[@]}" -qq source --download-only "$package" >&2
            dpkg-source -x --no-check ./"${package}"_*.dsc >/dev/null
        fi
    )
    srcdir=$(ls -d "$workdir/src/$package"-*/ | head -n 1)
    [ -n "$srcdir" ] || { echo "debian_source: $package did not unpack" >&2; return 1; }
    echo "${srcdir%/}"
}
