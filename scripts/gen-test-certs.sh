#!/usr/bin/env bash
# Makes a throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate
# (for mTLS), for tests and local experiments only.
#   scripts/gen-test-certs.sh DIR
# Then: mcp-config serve --tls-cert DIR/server.pem --tls-key DIR/server.key [--tls-client-ca DIR/ca.pem]
set -euo pipefail
dir=${1:?usage: gen-test-certs.sh DIR}
mkdir -p "$dir" && cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mcp-config test CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
for name in server client; do
  openssl req -newkey rsa:2048 -nodes -subj "/CN=mcp-config $name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  if [[ $name == server ]]; then
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf
  else
    printf 'extendedKeyUsage=clientAuth\n' > ext.cnf
  fi
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out "$name.pem" 2>/dev/null
done
rm -f ./*.csr ext.cnf ca.srl
