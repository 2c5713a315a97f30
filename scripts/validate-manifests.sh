#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s offline against the Kubernetes schemas
# (kubernetes-validate ships them; no cluster, no network after installing it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kubernetes-validate >/dev/null 2>&1 || python3 -m pip install -q "kubernetes-validate==1.37.0"
manifests=$(ls deploy/k8s/*.yaml | grep -v kustomization.yaml)
kubernetes-validate --strict $manifests
