#!/bin/sh
# Builds the Debian package: target/debian/tended_<version>_<arch>.deb. The binary is built with
# the `dist` profile (fat LTO, one codegen unit) and stripped; the package holds the systemd unit,
# creates the `tended` system user and /var/lib/tended, and installs /etc/tended/tended.yml as a
# conffile. Needs cargo-deb (installed here on first use, from crates.io).
set -eu
cd "$(dirname "$0")/.."
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "installing cargo-deb (once)..." >&2
    cargo install cargo-deb --locked
fi
cargo deb --locked --profile dist "$@"
ls -l target/debian/*.deb
