#!/usr/bin/env bash
# Fresh-machine set-up (Debian 12 / Python 3.11), then one of:
#   scripts/setup.sh demo   install, then run the main job (smartmine demo --out runs/demo)
#   scripts/setup.sh test   install with test tools, then run the whole test suite
# System libraries the wheels need: libGL/libgomp (open3d), libusb (pyrealsense2), expat;
# node/npm to build the twin viewer; chromium for its browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-demo}"
sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
pkgs="libgl1 libgomp1 libusb-1.0-0 libexpat1"
# the twin viewer's browser test runs in Debian's chromium (driven by Playwright)
if [ "$job" = test ]; then pkgs="$pkgs chromium"; fi
# the twin viewer is built from the npm registry (node >= 18): a nodesource nodejs carries npm
if ! command -v npm >/dev/null 2>&1; then pkgs="$pkgs nodejs npm"; fi
if ! dpkg -s $pkgs >/dev/null 2>&1; then
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends $pkgs
fi
python3 -m venv .venv
# the twin viewer bundle (OpenLayers, three.js: npm ci + esbuild -> twin/static/, no CDN)
bash scripts/build_viewer.sh >/dev/null
.venv/bin/python -m pip install -q --upgrade pip
case "$job" in
  demo)
    .venv/bin/python -m pip install -q -e .
    out="${SMARTMINE_DEMO_OUT:-runs/demo}"
    rm -rf "$out"
    # the main job, no data needed: simulate an open-pit survey and a drift (with their
    # ground truth), reprocess, publish into one twin, print the accuracy table
    .venv/bin/smartmine demo --out "$out"
    ;;
  test)
    .venv/bin/python -m pip install -q -e '.[test]'
    .venv/bin/python -m pytest -q
    ;;
  *)
    echo "usage: scripts/setup.sh demo|test" >&2
    exit 2
    ;;
esac
