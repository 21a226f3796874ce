#!/usr/bin/env bash
# Idempotent set-up: Debian servers the tests run for real, a virtualenv with the project and its dev tools.
set -euo pipefail
# The repository has a folder named `operator`; never let the working directory shadow the standard library.
export PYTHONSAFEPATH=1
cd "$(dirname "$0")/.."
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }  # stderr: stdout is for what a target prints

# Servers the tests run, and what the real nodes and images are made with (docs/local-control-plane.md,
# docs/images.md): containerd + runc, the standard CNI plugins, nftables for kube-proxy, iptables/ipset/conntrack for
# kube-router, socat for the bridge forwarders, buildah + mmdebstrap for the images, gcc for the pause binary.
apt_packages=(redis-server postgresql containerd runc containernetworking-plugins nftables iptables ipset conntrack socat
  buildah mmdebstrap uidmap gcc libc6-dev)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The tests start their own servers on free ports; the distribution's services are not needed.
  for service in redis-server postgresql; do $sudo_cmd service "$service" stop >/dev/null 2>&1 || true; done
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi

stamp=.venv/.installed
fingerprint=$( { cat pyproject.toml setup.py; cat constraints.txt 2>/dev/null || true; } | sha256sum | cut -d" " -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
  say "installing the project and dev tools into .venv"
  .venv/bin/python -m pip install -q --upgrade "pip>=25,<26"
  constraint_args=(); [ -f constraints.txt ] && constraint_args=(-c constraints.txt)
  .venv/bin/python -m pip install -q "${constraint_args[@]}" -e ".[dev]"
  echo "$fingerprint" > "$stamp"
fi

# mypy cannot follow setuptools' editable import hook; it reads the packages through this link tree instead.
mkdir -p .typecheck/fabrikam
for folder in operator workloads cli devcluster; do
  ln -sfn "../../$folder" ".typecheck/fabrikam/$folder"
done
say "ready: $(.venv/bin/python --version), $(.venv/bin/fabrikam --version 2>/dev/null || echo 'fabrikam CLI')"
