#!/bin/bash
# Stand-in for the official redis image's entrypoint: `redis-server` (or its options alone) runs as the
# redis user in /data, on every address with protected mode off, as the official build does.
set -euo pipefail
if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = 'redis-server' ]; then
  shift
  set -- redis-server --bind '* -::*' --protected-mode no "$@"
  if [ "$(id -u)" = '0' ]; then
    chown -R redis:redis /data 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
