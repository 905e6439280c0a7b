#!/usr/bin/env bash
# CI: Go and Debian's Go client packages for tests/test_go_client.py, which builds
# clients/go/enqueue in GOPATH mode against /usr/share/gocode (no module proxy, nothing
# downloaded by Go). golang-google-cloud-dev pulls in golang-google-api-dev,
# golang-google-grpc-dev and golang-google-genproto-dev (about 100 MB of .debs).
set -euo pipefail
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/cloud.google.com/go/cloudtasks/apiv2 ]; then
  start=$(date +%s)
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    golang-go golang-google-cloud-dev >/dev/null
  echo "Go packages: $(( $(date +%s) - start ))s"
fi
go version
