#!/usr/bin/env bash
# Installs what cardbridge needs to build, demo and test on Debian/Ubuntu.
# Safe to run again: it installs only what is missing.
#   installer/deps.sh demo   the demo: SoftHSM2, OpenSC, a pinentry
#   installer/deps.sh test   the tests: also Chromium, Xvfb, D-Bus, xdg-utils, openssl, node modules
set -euo pipefail
what=${1:-demo}
cd "$(dirname "$0")/.."

pkgs=(softhsm2 opensc pcscd pinentry-curses openssl ca-certificates)
# On a desktop, PIN dialogs are windows; elsewhere they draw in the terminal.
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$what" = demo ]; then
  # pinentry-gtk-2 (pinentry-qt on KDE/LXQt) shows cardbridge's dialogs as written; see internal/pin/choose.go.
  case "${XDG_CURRENT_DESKTOP:-}" in *KDE*|*LXQt*) pkgs+=(pinentry-qt) ;; *) pkgs+=(pinentry-gtk2) ;; esac
fi
if [ "$what" = test ]; then
  pkgs+=(chromium firefox-esr xvfb xdotool dbus-x11 dbus-daemon xdg-utils desktop-file-utils procps tmux
    # real cards: pcscd with a virtual reader, OpenSC and Yubico's tools
    vsmartcard-vpcd ykcs11 yubico-piv-tool libpcsclite-dev
    # other modules users have: a software TPM through tpm2-pkcs11, NSS's soft token
    swtpm swtpm-tools tpm2-tools libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-abrmd libnss3 libnss3-tools
    # dialogs and verifiers nobody here wrote
    pinentry-gtk2 gpgsm python3-asn1crypto
    # screenshots of the real dialogs (ImageMagick's import)
    imagemagick
    # Windows: the cross build, the MSI and Wine to run both
    gcc-mingw-w64-x86-64 wixl msitools wine wine64
    imagemagick)  # import: screenshots of the Windows dialogs under Xvfb
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "cardbridge: please install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "cardbridge: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$what" = test ] && { [ ! -d web-extension/node_modules/playwright-core ] || [ ! -d web-extension/node_modules/puppeteer-core ] || [ ! -d web-extension/node_modules/pkijs ] || [ ! -x web-extension/node_modules/.bin/web-ext ]; }; then
  (cd web-extension && npm ci --no-audit --no-fund --loglevel=error)
fi
# The oldest Firefox ESR the extension supports, unpacked into ~/.cache (not installed) for the tests.
if [ "$what" = test ]; then web-extension/test/fetch-firefox-esr.sh >/dev/null; fi

# node_modules can hold Go code (npm packages ship some); a go.mod of its own
# keeps it out of this module's ./... for go test and go vet.
if [ -d web-extension/node_modules ] && [ ! -f web-extension/node_modules/go.mod ]; then
  printf 'module invalid/node_modules\n\ngo 1.22\n' > web-extension/node_modules/go.mod
fi
