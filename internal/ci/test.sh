#!/usr/bin/env bash
# The project's test command (README): installs the system tools the tests use when they are
# missing, then runs every Go test. Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ -e /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || need+=(fonts-droid-fallback)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin)
# fuse3 (fusermount3) for the power-loss test's lazyfs mount; as root lazyfs mounts by itself, but
# the package also loads the fuse module's user-space side. The test skips only without /dev/fuse.
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test.sh: missing ${need[*]}; install them (sudo apt-get install ${need[*]}) and run again" >&2
    exit 2
  fi
fi

export SANTONG_REQUIRE_TOOLS=1 # tests that need zbarimg or Chromium fail instead of skipping
go test -count=1 -timeout 20m "$@" ./...
