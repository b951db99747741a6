#!/bin/sh
# One-shot Kibana set-up for deploy/docker-compose.yml: import every saved-objects file of
# deploy/kibana/ (mounted at /kibana) into Kibana, overwriting older versions of the same objects.
set -eu

KIBANA_URL=${KIBANA_URL:-http://kibana:5601}
: "${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD in deploy/.env}"

echo "kibana-import: waiting for $KIBANA_URL"
tries=0
until curl --silent --fail -u "elastic:$ELASTIC_PASSWORD" "$KIBANA_URL/api/status" \
    | grep -q '"level":"available"'; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "kibana-import: Kibana did not become available; see \`docker compose logs kibana\`" >&2
    exit 1
  fi
  sleep 5
done

found=0
for file in /kibana/*.ndjson; do
  [ -e "$file" ] || continue
  found=1
  echo "kibana-import: $file"
  curl --silent --show-error --fail-with-body -u "elastic:$ELASTIC_PASSWORD" \
    -H 'kbn-xsrf: wirewatch' -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" \
    --form "file=@$file"
  echo
done
if [ "$found" -eq 0 ]; then
  echo "kibana-import: no saved objects (*.ndjson) in deploy/kibana/" >&2
  exit 1
fi
