#!/bin/sh
# Render /etc/alertmanager/alertmanager.tmpl.yml with the receiver URLs from the environment, then
# run Alertmanager on the result (prom/alertmanager's busybox sh and sed).
set -eu

template=${AM_TEMPLATE:-/etc/alertmanager/alertmanager.tmpl.yml}
config=${AM_CONFIG:-/alertmanager/alertmanager.yml}

escape() {
  # A URL as a sed replacement: backslash, ampersand and the | delimiter are literal.
  printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

for name in ALERT_WEBHOOK_URL_OPERATORS ALERT_WEBHOOK_URL_CRITICAL ALERT_WEBHOOK_URL_NEWSDESK; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "alertmanager: set $name (in deploy/.env) to the URL that receives these alerts" >&2
    exit 1
  fi
  case "$value" in
    *'"'* | *'\'*)
      echo "alertmanager: $name contains \" or \\; percent-encode them (%22, %5C)" >&2
      exit 1 ;;
  esac
done

sed -e "s|\${ALERT_WEBHOOK_URL_OPERATORS}|$(escape "$ALERT_WEBHOOK_URL_OPERATORS")|g" \
    -e "s|\${ALERT_WEBHOOK_URL_CRITICAL}|$(escape "$ALERT_WEBHOOK_URL_CRITICAL")|g" \
    -e "s|\${ALERT_WEBHOOK_URL_NEWSDESK}|$(escape "$ALERT_WEBHOOK_URL_NEWSDESK")|g" \
    "$template" > "$config"

exec "${AM_BINARY:-/bin/alertmanager}" --config.file="$config" \
  --storage.path=/alertmanager --web.listen-address=:9093 "$@"
