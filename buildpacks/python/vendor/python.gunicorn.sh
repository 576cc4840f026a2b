# shellcheck shell=bash
# Written by the Python buildpack: gunicorn defaults for running behind the platform's router.
export FORWARDED_ALLOW_IPS='*'
export GUNICORN_CMD_ARGS="${GUNICORN_CMD_ARGS:---access-logfile -}"
