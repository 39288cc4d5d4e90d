#!/usr/bin/env bash
# `make demo`: the whole loop on one machine. Builds examples/node with a Node.js mirror made from the npm
# registry, starts the local Platform API, releases the slug on an app there, and lists its releases.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
mirror=.cache/mirror
state=.demo/api
port=${DEMO_PORT:-5055}
# Caches stay in the checkout when this script is run without make, too.
export SLUGBUILD_CACHE_DIR="${SLUGBUILD_CACHE_DIR:-$PWD/.cache/slugbuild}"
export npm_config_cache="${npm_config_cache:-$PWD/.cache/npm}"

"$bin/slugbuild" mirror "$mirror" --from-registries --node "${NODE_RANGE:-24}" --quiet
export SLUGBUILD_NODE_MIRROR="file://$PWD/$mirror/node"

mkdir -p "$state"
"$bin/slugbuild" serve --port "$port" --data-dir "$state" >.demo/serve.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

export SLUGBUILD_API_URL="http://127.0.0.1:$port"
for _ in $(seq 100); do
    [ -s "$state/api-key" ] && curl -s -o /dev/null "$SLUGBUILD_API_URL" && break
    sleep 0.1
done
HEROKU_API_KEY="$(cat "$state/api-key")"
export HEROKU_API_KEY

"$bin/slugbuild" apps list --quiet | grep -qw demo-node || "$bin/slugbuild" apps create demo-node
"$bin/slugbuild" examples/node -o .demo/slug.tgz --app demo-node --description "make demo"
"$bin/slugbuild" releases --app demo-node
echo "The local API is stopped now; start it again with: $bin/slugbuild serve --port $port --data-dir $state"
