#!/usr/bin/env bash
# The container image: builds the static (musl) alert-server, builds the FROM scratch image of
# ./Containerfile with buildah (no base image is pulled), then runs the image's binary from the
# image's root filesystem: --version, then a server on a free loopback port answering /healthz
# (polled, then asked through `alert-server healthcheck`), as uid 10001 with its database
# under the image's /data. The container and the image are removed at the end, also on failure.
#
# Needs root (buildah's vfs storage, chroot). Installs buildah, musl-tools and file with
# apt-get when missing, and the musl target with rustup.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
IMAGE=flink-alert:ci
UID_GID=10001:10001
BUILDAH=(buildah --storage-driver vfs)

missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v file >/dev/null || missing+=(file)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target add "$TARGET" >/dev/null 2>&1 || rustup target add "$TARGET"

echo "== musl release build of alert-server"
start=$(date +%s)
# ring and the bundled SQLite are C: cc-rs finds Debian's musl-gcc for this target.
cargo build --release --locked --target "$TARGET" -p alert-server
echo "built in $(( $(date +%s) - start )) s"
bin="${CARGO_TARGET_DIR:-$PWD/target}/$TARGET/release/alert-server"
description=$(file -b "$bin")
echo "alert-server: $description"
case "$description" in
  *"statically linked"* | *"static-pie linked"*) ;;
  *) echo "error: $bin is not a static binary" >&2; exit 1 ;;
esac
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "error: $bin has dynamic dependencies:" >&2; ldd "$bin" >&2; exit 1
fi

ctx=$(mktemp -d)
ctr=""
server_pid=""
mnt=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$mnt" ]; then "${BUILDAH[@]}" umount "$ctr" >/dev/null 2>&1 || true; fi
  if [ -n "$ctr" ]; then "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
  "${BUILDAH[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT

echo "== image (buildah, FROM scratch)"
mkdir -p "$ctx/data"
if command -v strip >/dev/null; then strip -o "$ctx/alert-server" "$bin"; else cp "$bin" "$ctx/alert-server"; fi
cp /etc/ssl/certs/ca-certificates.crt deploy/image/passwd deploy/image/group "$ctx/"
# docker format: OCI image configs have no HEALTHCHECK.
"${BUILDAH[@]}" bud --quiet --isolation chroot --format docker -f "$PWD/Containerfile" -t "$IMAGE" "$ctx" >/dev/null
"${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE"
# The configuration the image promises.
config=$("${BUILDAH[@]}" inspect --type image --format \
  '{{.Docker.Config.User}}|{{.Docker.Config.Env}}|{{.Docker.Config.Healthcheck}}|{{.Docker.Config.Volumes}}|{{.Docker.Config.ExposedPorts}}|{{.Docker.Config.Entrypoint}}' "$IMAGE")
echo "config: $config"
for want in "10001:10001|" "FLINK_ALERT_LISTEN=0.0.0.0:8080" "FLINK_ALERT_DATABASE_URL=sqlite:///data/flink-alert.db" \
            "/alert-server healthcheck" "/data" "8080/tcp" "[/alert-server]"; do
  case "$config" in *"$want"*) ;; *) echo "error: the image config lacks '$want'" >&2; exit 1 ;; esac
done

echo "== the image's binary, from the image's root filesystem, as uid 10001"
ctr=$("${BUILDAH[@]}" from --quiet "$IMAGE")
mnt=$("${BUILDAH[@]}" mount "$ctr")
ls -ln "$mnt"
[ "$(stat -c %u:%g "$mnt/data")" = "$UID_GID" ] || { echo "error: /data is not owned by $UID_GID" >&2; exit 1; }
# Nothing from this environment reaches the server but what is given here.
chroot=$(command -v chroot)
in_image() { env -i PATH=/ "$chroot" --userspec="$UID_GID" "$mnt" "$@"; }
version=$(in_image /alert-server --version)
echo "$version"
case "$version" in "alert-server "*) ;; *) echo "error: unexpected --version: $version" >&2; exit 1 ;; esac

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$ctx/server.log"
env -i PATH=/ FLINK_ALERT_LISTEN="127.0.0.1:$port" FLINK_ALERT_DATABASE_URL=sqlite:///data/flink-alert.db \
  FLINK_ALERT_REPLICA_ID=image-ci \
  "$chroot" --userspec="$UID_GID" "$mnt" /alert-server serve >"$log" 2>&1 &
server_pid=$!
deadline=$(( $(date +%s) + 30 ))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)" = 200 ]; do
  if ! kill -0 "$server_pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
    echo "error: the server from the image did not answer /healthz with 200 within 30 s; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.5
done
curl -s "http://127.0.0.1:$port/healthz"; echo
in_image /alert-server healthcheck --url "http://127.0.0.1:$port/healthz"
[ -s "$mnt/data/flink-alert.db" ] || { echo "error: no database under the image's /data" >&2; exit 1; }
[ "$(stat -c %u "$mnt/data/flink-alert.db")" = 10001 ] || { echo "error: the database is not owned by 10001" >&2; exit 1; }

kill -TERM "$server_pid"
wait "$server_pid" || { echo "error: the server did not stop cleanly; its log:" >&2; cat "$log" >&2; exit 1; }
server_pid=""
if in_image /alert-server healthcheck --url "http://127.0.0.1:$port/healthz" --timeout-ms 2000; then
  echo "error: healthcheck said healthy with the server stopped" >&2; exit 1
fi
echo "image OK"
