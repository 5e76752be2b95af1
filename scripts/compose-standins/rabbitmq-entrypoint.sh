#!/bin/bash
# Stand-in for the official rabbitmq image's entrypoint: RABBITMQ_DEFAULT_USER / _PASS / _VHOST honoured,
# the broker in the foreground as the rabbitmq user, logging to stdout (Debian's /usr/sbin/rabbitmq-server
# wrapper would send its output to /var/log/rabbitmq/startup_log, so the server script is run directly).
set -euo pipefail
if [ "$1" = 'rabbitmq-server' ]; then
  shift
  set -- /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
  conf=/etc/rabbitmq/conf.d/10-defaults.conf
  mkdir -p /etc/rabbitmq/conf.d
  : > "$conf"
  if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER" >> "$conf"; fi
  if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS" >> "$conf"; fi
  if [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ]; then echo "default_vhost = $RABBITMQ_DEFAULT_VHOST" >> "$conf"; fi
  cd /var/lib/rabbitmq
  if [ "$(id -u)" = '0' ]; then
    chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq/conf.d
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq "$@"
  fi
fi
exec "$@"
