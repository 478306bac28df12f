#!/usr/bin/env bash
# Makes a test CA and a server certificate for localhost and 127.0.0.1 (EC
# P-256, valid 2 days) in DIR: ca.pem, ca.key, server.pem, server.key.
# Usage: scripts/make-test-certs.sh DIR [CA-NAME]   (used by http-check.sh and bench/run-net.sh)
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR [CA-NAME]}
ca_name=${2:-weft test CA}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
  -days 2 -subj "/CN=$ca_name" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
  -out server.csr -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
  -extfile ext.cnf
