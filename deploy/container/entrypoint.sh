#!/bin/sh
# The image's entrypoint: the schema upgraded, then gunicorn (or any command given).
#
# VARIABLE_FILE, for the secrets below, reads VARIABLE from that file (a compose or
# Kubernetes secret), so that no secret needs to be in the environment of the container's
# definition.
set -eu

for name in INVX_SECRET_KEY INVX_SECRET_KEY_PREVIOUS INVX_METRICS_TOKEN PGPASSWORD; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        if [ ! -r "$file" ]; then
            echo "invx-entrypoint: ${name}_FILE names $file, which cannot be read: mount the secret there" >&2
            exit 2
        fi
        value=$(cat "$file")
        export "$name=$value"
        unset "${name}_FILE"
    fi
done

# Serving: the schema first (idempotent; a failure stops the start, and says why).
if [ "${1:-}" = "gunicorn" ]; then
    invx db upgrade
fi
exec "$@"
