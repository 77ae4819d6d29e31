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
command -v node >/dev/null 2>&1 || need+=(nodejs) # GS1's digital-link.js and @redocly/cli (below)
command -v npm >/dev/null 2>&1 || need+=(npm)
# PostgreSQL, Patroni and etcd for the cluster mode's tests (internal/pgtest runs a throwaway
# server as the postgres user; the chaos test a 3-node etcd and Patroni cluster on loopback).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v patroni >/dev/null 2>&1 || need+=(patroni)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v ssh-agent >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 && command -v ssh-add >/dev/null 2>&1 || need+=(openssh-client)
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

# A real C2SP witness for the witness tests (internal/witnesstest looks in .cache/bin), from the
# Go module proxy, pinned.
TORCHWOOD=v0.6.1
if [ ! -x .cache/bin/litewitness ] || [ ! -x .cache/bin/witnessctl ] || [ "$(cat .cache/bin/torchwood.version 2>/dev/null)" != "$TORCHWOOD" ]; then
  echo "test.sh: installing litewitness and witnessctl $TORCHWOOD" >&2
  mkdir -p .cache/bin
  GOBIN="$PWD/.cache/bin" go install "filippo.io/torchwood/cmd/litewitness@$TORCHWOOD" "filippo.io/torchwood/cmd/witnessctl@$TORCHWOOD"
  echo "$TORCHWOOD" > .cache/bin/torchwood.version
fi

# GS1's digital-link.js for verify's TestDigitalLinkToolkit, pinned by
# verify/testdata/gs1/package-lock.json and installed with npm ci into .cache/gs1-node.
if ! cmp -s verify/testdata/gs1/package-lock.json .cache/gs1-node/package-lock.json || [ ! -d .cache/gs1-node/node_modules/digital-link.js ]; then
  echo "test.sh: installing digital-link.js (verify/testdata/gs1/package-lock.json)" >&2
  rm -rf .cache/gs1-node
  mkdir -p .cache/gs1-node
  cp verify/testdata/gs1/package.json verify/testdata/gs1/package-lock.json .cache/gs1-node/
  (cd .cache/gs1-node && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi

# Redocly CLI lints docs/openapi.yaml (verify's TestOpenAPIRedoclyLint runs it from
# .cache/redocly), from npm, pinned.
REDOCLY=2.77.0
if [ ! -x .cache/redocly/node_modules/.bin/redocly ] || [ "$(cat .cache/redocly/version 2>/dev/null)" != "$REDOCLY" ]; then
  echo "test.sh: installing @redocly/cli $REDOCLY" >&2
  mkdir -p .cache/redocly
  npm install --prefix .cache/redocly --no-audit --no-fund --loglevel=error "@redocly/cli@$REDOCLY" >&2
  echo "$REDOCLY" > .cache/redocly/version
fi
# axe-core for verify's TestPagesInBrowser (the accessibility check in Chromium), pinned by
# verify/testdata/axe/package-lock.json and installed with npm ci into .cache/axe-node.
if ! cmp -s verify/testdata/axe/package-lock.json .cache/axe-node/package-lock.json || [ ! -f .cache/axe-node/node_modules/axe-core/axe.min.js ]; then
  echo "test.sh: installing axe-core (verify/testdata/axe/package-lock.json)" >&2
  rm -rf .cache/axe-node
  mkdir -p .cache/axe-node
  cp verify/testdata/axe/package.json verify/testdata/axe/package-lock.json .cache/axe-node/
  (cd .cache/axe-node && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi

export SANTONG_REQUIRE_TOOLS=1 # tests that need zbarimg, Chromium or litewitness fail instead of skipping
go test -count=1 -timeout 20m "$@" ./...
