#!/usr/bin/env bash
# Installs a correct software Vulkan driver (Mesa lavapipe from bookworm-backports) for the wgpu tests.
# Debian 12's own Mesa 22.3.6 lavapipe computes wrong reductions over >= 65536 elements (see ARCHITECTURE.md).
set -euo pipefail
if { [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] || [ -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; } && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q bpo; then
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 | awk '{print $2}')
  uri=${uri:-http://deb.debian.org/debian}
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
    | $SUDO tee /etc/apt/sources.list.d/backports.sources >/dev/null
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
