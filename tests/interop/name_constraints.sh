#!/bin/sh
# name_constraints.sh: generated name-constraint cases (issue 13): DNS, IP
# and email, permitted and excluded, wildcards, the CN when there is no SAN,
# each leaf inside, outside and on the boundary of its CA's constraints.
# `openssl verify` is the oracle; `certkit verify` (--policy compat and
# strict, text and --json) must agree with it. The table and the checks are
# in name_constraints.py, which this runs.
#
# Env: CERTKIT (binary), CERTKIT_TEST_PKI (pki dir). No network, no daemons.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
command -v python3 >/dev/null 2>&1 || { echo "python3 is required"; exit 1; }
unset CERTKIT_PASSWORD CERTKIT_HOME CERTKIT_FAULT SSL_CERT_FILE SSL_CERT_DIR
export NO_COLOR=1
W=$(mktemp -d "${TMPDIR:-/tmp}/certkit-interop-nc.XXXXXX")
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM
timeout 240 python3 "$(dirname "$0")/name_constraints.py" \
    "$CERTKIT" "$CERTKIT_TEST_PKI" "$W"
