#!/usr/bin/env bash
# Checks a built cardbridge .deb with Debian's own tools: its metadata, its
# files, the desktop entries, and that the binary inside runs.
set -euo pipefail
deb=$1
dpkg-deb --info "$deb" | grep "Package: cardbridge" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
for f in usr/bin/cardbridge usr/share/applications/cardbridge.desktop etc/xdg/autostart/cardbridge.desktop \
  etc/opt/chrome/native-messaging-hosts/app.cardbridge.json etc/chromium/native-messaging-hosts/app.cardbridge.json \
  usr/lib/mozilla/native-messaging-hosts/app.cardbridge.json usr/share/doc/cardbridge/copyright; do
  [ -e "$tmp/$f" ] || { echo "check-deb: $f missing" >&2; exit 1; }
done
desktop-file-validate "$tmp/usr/share/applications/cardbridge.desktop" "$tmp/etc/xdg/autostart/cardbridge.desktop"
grep -q '"path": "/usr/bin/cardbridge"' "$tmp/etc/chromium/native-messaging-hosts/app.cardbridge.json"
grep -q 'chrome-extension://lbbliobokjckpakbilehjmlondngalee/' "$tmp/etc/opt/chrome/native-messaging-hosts/app.cardbridge.json"
grep -q 'cardbridge@cardbridge.app' "$tmp/usr/lib/mozilla/native-messaging-hosts/app.cardbridge.json"
grep -q '^MimeType=x-scheme-handler/cardbridge;' "$tmp/usr/share/applications/cardbridge.desktop"
"$tmp/usr/bin/cardbridge" version | grep '^cardbridge ' >/dev/null
echo "check-deb: $(basename "$deb") is good"
