#!/usr/bin/env bash
# vagrant/provision.sh: makes a Linux machine ready for desde-cero's demos.
#
# The Vagrantfile runs it as root inside the VM on `vagrant up` and `vagrant provision`; it works
# the same on any Debian or Ubuntu machine:
#
#   sudo vagrant/provision.sh [REPO]
#
#   REPO               the repository (else $DESDE_CERO_REPO, else /vagrant)
#   DESDE_CERO_USER    who builds and runs the demos (default: vagrant)
#   CARGO_HOME, RUSTUP_HOME
#                      use the Rust toolchain already installed there instead of the user's
#                      ~/.cargo and ~/.rustup (nothing is downloaded when one is there)
#
# What it does, each step only when it is not done already (so a second run changes nothing):
#   1. apt: build-essential, curl, ca-certificates, busybox-static, iproute2 (no apt at all when
#      they are all installed);
#   2. on Ubuntu, lets unprivileged users create user namespaces (the rootless `user` stage);
#   3. rustup with the stable toolchain (minimal profile) for the user, and the musl target the
#      stages and the probe are built for (x86_64- or aarch64-unknown-linux-musl);
#   4. when the repository sits on a shared folder (VirtualBox, VMware, Parallels, NFS, 9p...),
#      points CARGO_TARGET_DIR at the VM's own disk: faster, and no hard-link or lock trouble;
#   5. as the user, `cargo build --workspace`, the stages for musl and `cargo xtask rootfs`, so
#      the first demo on stage starts at once.
# Each step prints `provision: [ok] ...` (nothing to do) or `provision: [changed] ...`; the last
# line is `changed: N`, N the number of steps that changed something (0 on a second run).

set -euo pipefail

repo=${1:-${DESDE_CERO_REPO:-/vagrant}}
user=${DESDE_CERO_USER:-vagrant}
changed=0
tmp=

say() { printf 'provision: %s\n' "$*"; }
ok() { say "[ok] $*"; }
change() {
    changed=$((changed + 1))
    say "[changed] $*"
}
die() {
    printf 'provision: error: %s\n' "$*" >&2
    exit 1
}
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

[ "$(id -u)" = 0 ] || die "run me as root (sudo $0), I install packages"
[ -f "$repo/Cargo.toml" ] && [ -d "$repo/xtask" ] ||
    die "$repo is not the desde-cero repository: pass its path as the first argument"
repo=$(cd "$repo" && pwd -P)
entry=$(getent passwd "$user") || die "no user $user: set DESDE_CERO_USER to the one who runs the demos"
home=$(printf '%s\n' "$entry" | cut -d: -f6)
[ -d "$home" ] || die "$user's home $home does not exist"
tmp=$(mktemp -d /tmp/desde-cero-provision.XXXXXX)
chmod 755 "$tmp"

# --- 1. packages -------------------------------------------------------------------------------
packages=(build-essential curl ca-certificates busybox-static iproute2)
missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    ok "packages already installed: ${packages[*]}"
else
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    change "installed ${missing[*]}"
fi

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    ok "cgroup v2 is mounted at /sys/fs/cgroup"
else
    say "warning: no cgroup v2 at /sys/fs/cgroup: the cgroups stage will use v1"
fi

# --- 2. unprivileged user namespaces (Ubuntu 23.10+ restricts them with AppArmor) ---------------
knob=/proc/sys/kernel/apparmor_restrict_unprivileged_userns
conf=/etc/sysctl.d/60-desde-cero-userns.conf
if [ ! -e "$knob" ]; then
    ok "no AppArmor restriction on user namespaces here"
elif [ "$(cat "$knob")" = 0 ] && [ -f "$conf" ]; then
    ok "unprivileged user namespaces allowed ($conf)"
else
    printf '%s\n' \
        '# desde-cero (vagrant/provision.sh): the rootless `user` stage creates a user namespace' \
        '# as an ordinary user, which Ubuntu otherwise restricts with AppArmor.' \
        'kernel.apparmor_restrict_unprivileged_userns = 0' >"$conf"
    sysctl -q -w kernel.apparmor_restrict_unprivileged_userns=0
    change "allowed unprivileged user namespaces ($conf)"
fi

# --- how to run things as the user ---------------------------------------------------------------
cargo_home=${CARGO_HOME:-$home/.cargo}
rustup_home=${RUSTUP_HOME:-$home/.rustup}
user_env=(
    HOME="$home" USER="$user" LOGNAME="$user" LANG=C.UTF-8
    PATH="$cargo_home/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home" CARGO_TERM_COLOR=never
)
for var in RUSTUP_DIST_SERVER RUSTUP_UPDATE_ROOT http_proxy https_proxy no_proxy; do
    if [ -n "${!var:-}" ]; then user_env+=("$var=${!var}"); fi
done
# as_user DIR CMD...: runs CMD as the user in DIR, with a clean, known environment.
as_user() {
    local dir=$1
    shift
    (cd "$dir" && runuser -u "$user" -- env -i "${user_env[@]}" "$@")
}

# --- 3. Rust -------------------------------------------------------------------------------------
arch=$(uname -m)
case "$arch" in
x86_64 | aarch64) ;;
*) die "no Rust musl target for this architecture ($arch): use an x86_64 or arm64 machine" ;;
esac
musl=$arch-unknown-linux-musl

if [ -x "$cargo_home/bin/rustup" ]; then
    ok "rustup already installed for $user ($cargo_home)"
elif as_user "$repo" sh -c 'command -v cargo' >/dev/null; then
    ok "cargo already on $user's PATH ($(as_user "$repo" sh -c 'command -v cargo')), no rustup"
elif [ -n "${CARGO_HOME:-}" ]; then
    die "CARGO_HOME=$CARGO_HOME was given but holds no toolchain"
else
    url=https://static.rust-lang.org/rustup/dist/$arch-unknown-linux-gnu/rustup-init
    say "downloading $url"
    curl --proto '=https' --tlsv1.2 -sSfL --retry 3 -o "$tmp/rustup-init" "$url" ||
        die "cannot download rustup-init from static.rust-lang.org: check the VM's network"
    want=$(curl --proto '=https' --tlsv1.2 -sSfL --retry 3 "$url.sha256" | cut -d' ' -f1)
    have=$(sha256sum "$tmp/rustup-init" | cut -d' ' -f1)
    [ -n "$want" ] && [ "$want" = "$have" ] || die "rustup-init's SHA-256 is $have, expected $want"
    chmod 755 "$tmp/rustup-init"
    as_user "$home" "$tmp/rustup-init" -y -q --profile minimal --default-toolchain stable
    change "installed rustup and the stable toolchain for $user"
fi

if [ -x "$cargo_home/bin/rustup" ]; then
    if as_user "$repo" rustup toolchain list | grep -q '^stable-'; then
        ok "stable toolchain installed"
    else
        as_user "$repo" rustup toolchain install stable --profile minimal
        change "installed the stable toolchain"
    fi
    if as_user "$repo" rustup default 2>/dev/null | grep -q .; then
        ok "a default toolchain is set"
    else
        as_user "$repo" rustup default stable
        change "made stable the default toolchain"
    fi
    # In the repository, so a rust-toolchain.toml there (if one is ever added) is honoured.
    if as_user "$repo" rustup target list --installed | grep -qx "$musl"; then
        ok "target $musl installed"
    else
        as_user "$repo" rustup target add "$musl"
        change "added target $musl"
    fi
else
    sysroot=$(as_user "$repo" rustc --print sysroot)
    [ -d "$sysroot/lib/rustlib/$musl" ] ||
        die "the toolchain at $sysroot lacks $musl and there is no rustup to add it"
    ok "target $musl present in $sysroot"
fi

# --- 4. the build folder off a shared folder -----------------------------------------------------
fstype=$(findmnt -n -o FSTYPE --target "$repo" || echo unknown)
case "$fstype" in
ext2 | ext3 | ext4 | xfs | btrfs | overlay | tmpfs | zfs | f2fs | jfs)
    ok "$repo is on a local disk ($fstype): cargo builds in $repo/target"
    ;;
*)
    target_dir=$home/.cache/desde-cero/target
    user_env+=(CARGO_TARGET_DIR="$target_dir")
    line="export CARGO_TARGET_DIR=\"\$HOME/.cache/desde-cero/target\"  # desde-cero: $repo is a $fstype shared folder"
    for rc in .profile .bashrc; do
        if grep -qsF 'export CARGO_TARGET_DIR="$HOME/.cache/desde-cero/target"' "$home/$rc"; then
            ok "$rc already sets CARGO_TARGET_DIR"
        else
            as_user "$home" sh -c 'printf "\n%s\n" "$1" >>"$2"' sh "$line" "$home/$rc"
            change "$rc sets CARGO_TARGET_DIR=$target_dir ($repo is a $fstype shared folder)"
        fi
    done
    ;;
esac

# --- 5. build everything once, as the user -------------------------------------------------------
as_user "$repo" test -w "$repo" || die "$user cannot write to $repo"

# The workspace for the host (the xtask), then the stages and the probe as `cargo xtask run` builds
# them: static, for $musl.
say "cargo build --workspace, and the stages for $musl (as $user)"
as_user "$repo" cargo build --workspace 2>&1 | tee "$tmp/build.log"
as_user "$repo" cargo build --bins --target "$musl" 2>&1 | tee -a "$tmp/build.log"
if grep -Eq '^ *(Compiling|Downloaded|Locking|Updating|Adding|Removing) ' "$tmp/build.log"; then
    change "built the workspace"
else
    ok "workspace already built"
fi

# A fingerprint of the root filesystem (names, inodes, times): equal before and after when the
# xtask found it made and left it alone.
fingerprint() {
    if [ -d "$repo/rootfs/build" ]; then
        find "$repo/rootfs/build" -printf '%p %i %T@ %C@\n' | sort | sha256sum
    else
        echo none
    fi
}
before=$(fingerprint)
say "cargo xtask rootfs (as $user)"
as_user "$repo" cargo xtask rootfs
if [ "$(fingerprint)" = "$before" ]; then
    ok "root filesystem already made"
else
    change "made the root filesystem in $repo/rootfs/build"
fi

say "ready: vagrant ssh, then: cd $repo && cargo xtask run full -- sh"
echo "changed: $changed"
