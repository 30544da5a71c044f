# Sourced by scripts/serve and scripts/test: make ./.venv with Python >= 3.11 and activate it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    # Installs the named Debian packages that are not installed yet: without their recommended
    # packages, and without starting or enabling the services they ship (the tests start PostgreSQL
    # and Prometheus themselves, on free ports, when they need them).
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        # policy-rc.d answering 101 tells the packages' install scripts not to start their services.
        local policy=/usr/sbin/policy-rc.d placed=""
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && placed=1
        fi
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
        if [ -n "$placed" ]; then as_root rm -f "$policy"; fi
        # Under systemd the units are enabled all the same: disable what was installed just now.
        if [ -d /run/systemd/system ]; then
            for service in postgresql prometheus; do
                if printf '%s\n' "${missing[@]}" | grep -qx "$service"; then
                    as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
                fi
            done
        fi
    fi
}

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c "import ensurepip" 2>/dev/null; then
        apt_install python3-venv
    fi
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
fi
# shellcheck disable=SC1091
source .venv/bin/activate
