#!/usr/bin/env bash
# Checks the MSI with msitools: the binary and manifests are in it, and the
# per-user registry entries of install_windows.go are there.
set -euo pipefail
msi=$1
msiinfo suminfo "$msi" | grep "cardbridge" >/dev/null
files=$(msiinfo export "$msi" File)
for f in cardbridge.exe app.cardbridge.chrome.json app.cardbridge.firefox.json; do
  grep -q "$f" <<<"$files" || { echo "check-msi: $f missing" >&2; exit 1; }
done
reg=$(msiinfo export "$msi" Registry)
for k in 'Software\Classes\cardbridge\shell\open\command' 'Software\Microsoft\Windows\CurrentVersion\Run' \
  'Software\Google\Chrome\NativeMessagingHosts\app.cardbridge' 'Software\Mozilla\NativeMessagingHosts\app.cardbridge'; do
  grep -qF "$k" <<<"$reg" || { echo "check-msi: registry $k missing" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
msiextract -C "$tmp" "$msi" >/dev/null
find "$tmp" -name cardbridge.exe | grep . >/dev/null || { echo "check-msi: cannot extract cardbridge.exe" >&2; exit 1; }
echo "check-msi: $(basename "$msi") is good"
