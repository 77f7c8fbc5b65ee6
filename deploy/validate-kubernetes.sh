#!/usr/bin/env bash
# Validates Kubernetes manifests against the API's schemas (strict: unknown fields are errors)
# with kubernetes-validate from PyPI, installed at a pinned version into a virtualenv the first
# time (idempotent; QUIVER_PYTHON_TOOLS names its folder, default target/python-tools).
#   deploy/validate-kubernetes.sh deploy/kubernetes/*.yaml
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${QUIVER_PYTHON_TOOLS:-$root/target/python-tools}"
package="kubernetes-validate==1.37.0"
if ! "$venv/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
  echo "installing $package into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$package"
fi
exec "$venv/bin/python" -m kubernetes_validate --strict --kubernetes-version 1.37.0 "$@"
