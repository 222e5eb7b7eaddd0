#!/usr/bin/env bash
# Install the system packages the tests need, only when they are missing (Debian, as root):
#   redis-server  (tests/support/services.py starts a private one when none answers on 6379)
#   postgresql    (initdb/pg_ctl for a private cluster when none answers on 5432)
#   chromium      (/usr/bin/chromium, driven by Playwright in tests/browser)
# Idempotent and silent when everything is present; runs `apt-get update` only before an install.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-system-packages: missing ${missing[*]}; run this script as root" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-system-packages: missing ${missing[*]} and no apt-get to install them" >&2
    exit 1
fi

echo "ensure-system-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# No systemd here: keep package scripts from trying to start services (we start our own).
policy_rc=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f "$policy_rc"; fi; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ensure-system-packages: done"
