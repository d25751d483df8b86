#!/usr/bin/env bash
# Debian packages crosswatch needs outside Python: a CJK font and a Latin font with Vietnamese letters
# (fonts-dejavu-core) for the evidence captions, npm (the
# web UI's ECharts comes from the npm registry) and chromium (the headless browser of the UI tests;
# Playwright drives it, nothing downloads a browser).
# (The test suite's PostgreSQL is installed by scripts/pg_test_server.sh.) Installs only what is
# missing; quiet and quick when all is there.
set -euo pipefail
need=()
fc-list :lang=zh 2>/dev/null | grep -q . || [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei fontconfig)
# Vietnamese (and other accented Latin) letters in crossing names: the CJK fonts lack them
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
# ffmpeg: the program serves local RTSP/HTTP streams to the live-stream tests and scripts
# (`crosswatch watch` itself decodes with PyAV's own FFmpeg libraries)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
# pango: WeasyPrint's text layout (the 创城简报 PDF); poppler-utils: pdftoppm, to look at its pages
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0.so.0 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "crosswatch: please install these Debian packages (as root): ${need[*]}" >&2
  exit 1
fi
echo "crosswatch: installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
