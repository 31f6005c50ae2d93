#!/usr/bin/env bash
# The web console's CI: the committed bundle is fresh, and the browser tests pass in real
# headless Chromium (Debian's chromium, driven by playwright-core) against a real alert-server.
# Run from anywhere; installs Chromium (and a CJK font for readable screenshots) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CONSOLE=crates/alert-server/console

if ! command -v chromium >/dev/null || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then
  echo "== installing chromium (and a CJK font)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null
fi

echo "== console: npm ci, build"
npm --prefix "$CONSOLE" ci --no-audit --no-fund
npm --prefix "$CONSOLE" run build
echo "== console: the committed dist/ is what the sources build"
# (--stat: the bundle is minified, a full diff would be one enormous line per file)
if ! git diff --stat --exit-code -- "$CONSOLE/dist" || [ -n "$(git status --porcelain -- "$CONSOLE/dist")" ]; then
  echo "error: $CONSOLE/dist is stale: run 'npm --prefix $CONSOLE run build' and commit dist/" >&2
  exit 1
fi

echo "== console: binaries"
cargo build -p alert-server --bin alert-server
cargo build -p alert-testkit --bin mock-robot
echo "== console: embedding and serving (cargo test --test console)"
cargo test -p alert-server --test console
echo "== console: browser tests (screenshots in $CONSOLE/test-artifacts/)"
npm --prefix "$CONSOLE" test
