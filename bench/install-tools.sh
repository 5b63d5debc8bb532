#!/usr/bin/env bash
# Installs the benchmark's peer tools when missing: dnsperf (the load generator) and gdnsd (the yardstick server),
# from Debian's packages. Debian's gdnsd package would start a gdnsd on port 53 at install time; a policy-rc.d
# that refuses every service start keeps it from doing so (and is removed afterwards if this script made it).
# Root or sudo is needed only when something is missing.
set -euo pipefail
need=()
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
[ -x /usr/sbin/gdnsd ] || command -v gdnsd >/dev/null 2>&1 || need+=(gdnsd)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "bench: installing ${need[*]} (apt-get)" >&2
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# no service starts while the bench tools are installed\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
status=0
{ $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null || status=$?
if [ "$made_policy" = 1 ]; then
  $sudo rm -f /usr/sbin/policy-rc.d
fi
exit "$status"
