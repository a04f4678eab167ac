#!/usr/bin/env bash
# Installs what the build, the demo and the tests need, from Debian packages only.
# Idempotent: a package already present is not installed again, and apt-get update
# runs only when something is missing.
set -euo pipefail

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
