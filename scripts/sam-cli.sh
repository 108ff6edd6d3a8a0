#!/usr/bin/env bash
# Installs the AWS SAM CLI into its own virtualenv (.venv-sam), so the packaging test can run
# the real `sam build` (its dependencies would conflict with the project's in one venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
if [ ! -x .venv-sam/bin/sam ]; then
  "$PYTHON" -m venv .venv-sam
  .venv-sam/bin/python -m pip install --quiet --disable-pip-version-check "aws-sam-cli>=1.120"
fi
echo "sam-cli: $(.venv-sam/bin/sam --version)"
