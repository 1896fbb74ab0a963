# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by scripts/demo, scripts/test and scripts/bench: the packages the
# project needs, installed when missing, and the build.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Everything to build, test, demo and benchmark on a fresh Debian 12
# (isync and ripgrep: the benchmark's mbsync and rg baselines).
packages=(
	gcc pkg-config meson ninja-build
	libfuse3-dev fuse3 libglib2.0-dev libgnutls28-dev libsqlite3-dev
	dovecot-imapd dovecot-core openssl util-linux attr rsync
	python3 python3-pytest python3-pytest-timeout python3-docutils
	clang libclang-rt-14-dev
	isync ripgrep
)

log() {
	printf '==> %s\n' "$*" >&2
}

install_missing() {
	local missing=() p
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]}; run as root or install them" >&2
		return 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [meson options...]: quiet unless something fails.
build() {
	local dir=$1 out
	shift
	if [ ! -f "$top/$dir/build.ninja" ]; then
		out=$(meson setup "$top/$dir" "$top" "$@" 2>&1) ||
			{ echo "$out" >&2; return 1; }
	else
		out=$(meson configure "$top/$dir" "$@" 2>&1) ||
			{ echo "$out" >&2; return 1; }
	fi
	out=$(ninja -C "$top/$dir" 2>&1) || { echo "$out" >&2; return 1; }
}
