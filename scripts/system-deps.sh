#!/usr/bin/env bash
# System packages the test suite needs on a fresh Debian machine: Chromium (the e2e browser, and
# its SwiftShader Vulkan driver that gives WebGPU without a GPU) and the Vulkan loader for Dawn
# in Node. Installs them with apt-get when missing and running as root; otherwise says what to do.
set -euo pipefail
need=()
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
[ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || need+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need+=(libvulkan1)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "missing system packages: ${need[*]} (install them with: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
