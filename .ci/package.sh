#!/usr/bin/env bash
# Packages the crates that are published to crates.io, as `cargo publish` would before uploading:
# checks each manifest (metadata, no versioned dependency on an unpublished crate), lists the
# files, and builds each .crate on its own (local dependencies among the six resolve to the
# packages built in the same run). Nothing is uploaded.
#
#   bash .ci/package.sh                  # what CI runs
#   bash .ci/package.sh --allow-dirty    # with uncommitted changes
#   bash .ci/package.sh --no-verify      # manifests and file lists only, no build
#
# The channel crates leave `tests/` out of their packages (the tests need alert-testkit's mock
# servers, which are not published): cargo says so with one "ignoring test" warning per test.
#
# The list is the published set: alert-core and the channel crates. Everything else in the
# workspace is `publish = false`; a new channel crate is added here (see CONTRIBUTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."

PUBLISHED=(alert-core alert-dingtalk alert-wechat alert-feishu alert-webhook alert-email)

args=()
for crate in "${PUBLISHED[@]}"; do
  args+=(--package "$crate")
done
cargo package --locked "${args[@]}" "$@"
