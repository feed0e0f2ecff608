#!/usr/bin/env bash
# Builds the twin viewer bundle (twin/static/: index.html, viewer.js, viewer.css) from
# twin/viewer/: the JavaScript libraries (OpenLayers, proj4, three.js) come from the npm
# registry at the versions pinned in package-lock.json, bundled by esbuild, so the page
# works offline (no CDN, no tokens). `smartmine twin serve` refuses to start without it.
# Needs node >= 18 and npm; install scripts are not run (esbuild's binary is its
# platform package).
set -euo pipefail
cd "$(dirname "$0")/../twin/viewer"
npm ci --ignore-scripts --no-audit --no-fund
rm -rf ../static
npm run build
ls -l ../static
