#!/usr/bin/env bash
# Builds the Debian package: target/debian/certmail_VERSION_ARCH.deb, and beside it
# certmail_VERSION_ARCH.debug (the debug info split off the shipped binary, for crash
# analysis: `gdb -s certmail.debug /usr/bin/certmail core`).
#
#   bash scripts/build-deb.sh                      # release build (the shipped package)
#   bash scripts/build-deb.sh --binary PATH        # package a binary already built
#                                                  # (CI: the one the tests built)
#
# Contents: /usr/bin/certmail (no debug info), the hardened unit certmail.service, the
# commented default /etc/certmail/certmail.toml (a conffile), a man page per command and shell
# completions generated from the CLI definition, and the maintainer scripts of
# packaging/debian (a `certmail` system user, /var/lib/certmail 0700, `certmail init` on first
# install; purge deletes data, configuration and user).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) bin=$2; shift 2 ;;
        *) echo "usage: $0 [--binary PATH]" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    cargo build --release --locked -p certmail
    bin=target/release/certmail
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
out=target/debian
root=$out/root
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/certmail" \
    "$root/usr/share/man/man1" "$root/usr/share/doc/certmail/examples" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"

# The binary without debug info; the debug info in its own file, linked by name and CRC.
debug=$out/certmail_${version}_${arch}.debug
objcopy --only-keep-debug "$bin" "$debug"
objcopy --strip-debug --strip-unneeded --add-gnu-debuglink="$debug" "$bin" "$root/usr/bin/certmail"
chmod 755 "$root/usr/bin/certmail"

install -m 644 packaging/certmail.service "$root/lib/systemd/system/certmail.service"
install -m 644 packaging/certmail.toml "$root/etc/certmail/certmail.toml"
install -m 644 packaging/port25.conf "$root/usr/share/doc/certmail/examples/port25.conf"
install -m 644 LICENSE "$root/usr/share/doc/certmail/copyright" 2>/dev/null \
    || printf 'certmail\nLicense: Apache-2.0\nSee /usr/share/common-licenses/Apache-2.0\n' \
        > "$root/usr/share/doc/certmail/copyright"
gzip -9n -c README.md > "$root/usr/share/doc/certmail/README.md.gz"

"$root/usr/bin/certmail" manpages "$root/usr/share/man/man1" >/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1
"$root/usr/bin/certmail" completions bash > "$root/usr/share/bash-completion/completions/certmail"
"$root/usr/bin/certmail" completions zsh > "$root/usr/share/zsh/vendor-completions/_certmail"
"$root/usr/bin/certmail" completions fish > "$root/usr/share/fish/vendor_completions.d/certmail.fish"

install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
install -m 644 packaging/debian/conffiles "$root/DEBIAN/conffiles"

# The lowest glibc the binary asks for.
glibc=$(objdump -T "$root/usr/bin/certmail" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
size_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: certmail
Version: $version
Architecture: $arch
Maintainer: certmail developers <certmail@localhost>
Installed-Size: $size_kb
Depends: libc6 (>= $glibc), libgcc-s1, passwd
Recommends: postfix
Suggests: postgresql
Section: mail
Priority: optional
Homepage: https://github.com/certmail/certmail
Description: S/MIME certificate manager and e-mail encryption gateway
 certmail signs, encrypts, decrypts and verifies mail as it flows through
 Postfix (or any MTA), with a certificate and key store, trusted roots, CRLs,
 a trust list, per-user/domain/global policy, a built-in CA with PKCS#12
 delivery, and a web admin and API.
CONTROL

deb=$out/certmail_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb ($(du -h "$deb" | cut -f1)); debug info: $debug ($(du -h "$debug" | cut -f1))"
