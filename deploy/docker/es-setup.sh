#!/bin/sh
# One-shot Elasticsearch set-up for deploy/docker-compose.yml, run as the `elastic` superuser:
#  - the password of Kibana's built-in `kibana_system` user (Kibana may not log in as `elastic`);
#  - a `wirewatch_writer` role limited to the wirewatch indices, and the `wirewatch` user the
#    worker logs in with (WIREWATCH_ES_USERNAME / WIREWATCH_ES_PASSWORD).
# Idempotent: running it again resets the same passwords and role.
set -eu

ES_URL=${ES_URL:-http://elasticsearch:9200}
INDEX_PATTERN=${INDEX_PATTERN:-wirewatch-*}

for name in ELASTIC_PASSWORD KIBANA_PASSWORD WIREWATCH_ES_PASSWORD; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "es-setup: set $name in deploy/.env" >&2
    exit 1
  fi
  case "$value" in
    *'"'* | *'\'*)
      echo "es-setup: $name must not contain \" or \\ (it is sent inside JSON)" >&2
      exit 1 ;;
  esac
done

es() {
  method=$1 path=$2 body=$3
  curl --silent --show-error --fail-with-body -u "elastic:$ELASTIC_PASSWORD" \
    -H 'Content-Type: application/json' -X "$method" "$ES_URL$path" -d "$body"
  echo
}

echo "es-setup: waiting for $ES_URL"
tries=0
until curl --silent --fail -u "elastic:$ELASTIC_PASSWORD" \
    "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=5s" > /dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "es-setup: Elasticsearch did not answer in time; see \`docker compose logs elasticsearch\`" >&2
    exit 1
  fi
  sleep 5
done

es POST /_security/user/kibana_system/_password "{\"password\": \"$KIBANA_PASSWORD\"}"

# Index templates and the first write index behind each alias are created by the worker at start.
es PUT /_security/role/wirewatch_writer "{
  \"cluster\": [\"monitor\", \"manage_index_templates\"],
  \"indices\": [{
    \"names\": [\"$INDEX_PATTERN\"],
    \"privileges\": [\"create_index\", \"manage\", \"write\", \"read\", \"view_index_metadata\"]
  }]
}"

es PUT /_security/user/wirewatch "{
  \"password\": \"$WIREWATCH_ES_PASSWORD\",
  \"roles\": [\"wirewatch_writer\"],
  \"full_name\": \"wirewatch worker\"
}"
echo "es-setup: done"
