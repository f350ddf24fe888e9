#!/usr/bin/env bash
# Unpacks an older Firefox ESR from the Debian archive, without installing
# it, so that the tests run the extension on the oldest ESR it supports as
# well as on the firefox-esr apt installs. It goes into a cache outside the
# source tree; the path of the firefox binary is printed on stdout.
#   web-extension/test/fetch-firefox-esr.sh [version]
set -euo pipefail
version=${1:-140.12.0esr-1~deb12u1}
cache=${CARDBRIDGE_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cardbridge-test}
dir="$cache/firefox-esr-$version"
bin="$dir/usr/lib/firefox-esr/firefox-esr"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download needs no root; it writes the .deb into the current dir.
  (cd "$tmp" && apt-get download -qq "firefox-esr=$version" >&2)
  dpkg-deb -x "$tmp"/firefox-esr_*.deb "$tmp/root"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
fi
echo "$bin"
