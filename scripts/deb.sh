#!/usr/bin/env bash
# Builds the Debian package (make deb): build-deb/ecowarn_VERSION-1_ARCH.deb, then checks it
# with lintian (warnings and errors fail).
#
#   /usr/sbin/ecowarnd                        the daemon
#   /usr/bin/ecowarn-hj212, -watch, -sim      the tools
#   /lib/systemd/system/ecowarnd.service      packaging/ecowarnd.service
#   /etc/ecowarn/ecowarn.json, rules/*.json   config/, with rules.dir /etc/ecowarn/rules and a
#                                             broker on 127.0.0.1:9092 (conffiles)
#   /etc/default/ecowarnd                     the service's environment (secrets), mode 0600
#   /usr/share/doc/ecowarn/                   README, OPERATING, DASHBOARD, DAEMON, RULES
#   /usr/share/man/                           packaging/man/
#
# Built apart (build-deb/, Release with Debian's hardening flags from dpkg-buildflags) with
# dpkg-deb: the layout is this script's, in the open; no debhelper.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${EW_DEB_BUILD:-$here/build-deb}
cd "$here"

version=$(sed -n 's/^project(ecowarn VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
revision=$(sed -n '1s/^ecowarn (\([^)]*\)).*/\1/p' packaging/changelog)
[ "$revision" = "$version-1" ] ||
  { echo "deb.sh: packaging/changelog is at $revision, CMakeLists.txt at $version" >&2; exit 1; }
arch=$(dpkg --print-architecture)
generator=$(command -v ninja >/dev/null 2>&1 && echo "-G Ninja" || true)

# ---- build ----
CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" \
  cmake -S . -B "$out/cmake" $generator -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  >/dev/null
cmake --build "$out/cmake" -j "$(nproc)" --target ecowarnd ecowarn-hj212 ecowarn-watch ecowarn-sim

# ---- the tree ----
root="$out/root"
rm -rf "$root"
doc=$root/usr/share/doc/ecowarn
install -d "$root/DEBIAN" "$root/usr/sbin" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/ecowarn/rules" "$root/etc/default" "$doc" "$root/usr/share/man/man1" \
  "$root/usr/share/man/man8" "$root/usr/share/lintian/overrides"
install -m 0755 "$out/cmake/bin/ecowarnd" "$root/usr/sbin/"
for t in ecowarn-hj212 ecowarn-watch ecowarn-sim; do
  install -m 0755 "$out/cmake/bin/$t" "$root/usr/bin/"
done
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  "$root/usr/sbin/ecowarnd" "$root"/usr/bin/ecowarn-*
install -m 0644 packaging/ecowarnd.service "$root/lib/systemd/system/"
install -m 0600 packaging/default "$root/etc/default/ecowarnd"
install -m 0644 config/rules/*.json "$root/etc/ecowarn/rules/"
# the example config, pointed at the installed rules and at a real broker
sed -e 's|"dir": "config/rules"|"dir": "/etc/ecowarn/rules"|' \
    -e 's|"brokers": "embedded"|"brokers": "127.0.0.1:9092"|' config/ecowarn.json \
    >"$root/etc/ecowarn/ecowarn.json"
grep -q '"/etc/ecowarn/rules"' "$root/etc/ecowarn/ecowarn.json" &&
  grep -q '"127.0.0.1:9092"' "$root/etc/ecowarn/ecowarn.json" ||
  { echo "deb.sh: config/ecowarn.json no longer has the lines this script rewrites" >&2; exit 1; }
chmod 0644 "$root/etc/ecowarn/ecowarn.json"
install -m 0644 packaging/copyright "$doc/copyright"
install -m 0644 packaging/lintian-overrides "$root/usr/share/lintian/overrides/ecowarn"
gzip -9n <packaging/changelog >"$doc/changelog.Debian.gz"
for d in README.md OPERATING.md dashboard/DASHBOARD.md cmd/DAEMON.md rules/RULES.md; do
  install -m 0644 "$d" "$doc/"
done
for m in packaging/man/*.[18]; do
  gzip -9n <"$m" >"$root/usr/share/man/man${m##*.}/$(basename "$m").gz"
done
chmod 0644 "$root"/usr/share/man/man*/*.gz "$doc/changelog.Debian.gz"

# ---- control ----
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
mkdir -p "$out/shlibs/debian"
printf 'Source: ecowarn\n\nPackage: ecowarn\nArchitecture: any\n' >"$out/shlibs/debian/control"
depends=$(cd "$out/shlibs" && dpkg-shlibdeps -O "$root/usr/sbin/ecowarnd" "$root"/usr/bin/* |
  sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: ecowarn
Version: $revision
Architecture: $arch
Maintainer: ecowarn authors <ecowarn@example.org>
Installed-Size: $size
Depends: $depends
Recommends: redis-server
Section: net
Priority: optional
Homepage: https://example.org/ecowarn
Description: real-time early-warning stream processor for HJ 212 monitoring data
 ecowarnd consumes HJ 212 packets, JSON telemetry and e-enterprise events from
 Kafka, judges them with threshold, trend, data-quality, offline and
 closed-loop rules on event time, and writes alerts to duty officers and
 reminders to enterprises into Redis. It serves a live risk map, Prometheus
 metrics and health over HTTP.
EOF
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
  xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles" "$root/DEBIAN/control"

deb="$out/ecowarn_${revision}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
if [ "${EW_DEB_LINTIAN:-1}" = 1 ]; then
  lintian --fail-on warning,error "$deb" >&2
fi
