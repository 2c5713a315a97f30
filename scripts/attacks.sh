#!/usr/bin/env bash
# The availability attacks of docs/SECURITY.md against the built binary, with timings: a
# 200 KB deeply nested bundle, a 0.9 MB alias bomb (as an admin and as a token with no role),
# the server's resident memory before and after, and 300 silent connections from one address.
# Usage: scripts/attacks.sh [BINARY]   (default: target/debug/mcp-config; build it first)
set -u
BIN=${1:-target/debug/mcp-config}
D=$(mktemp -d)
export SECRET=a-test-secret-that-is-long-enough-for-hs256
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
GRPC_PORT=$(free_port)
export HTTP_PORT=$(free_port)
MCP_CONFIG_AUTH=jwt MCP_CONFIG_JWT_SECRET=$SECRET $BIN serve --database-url sqlite://$D/db.sqlite --grpc-addr 127.0.0.1:$GRPC_PORT --http-addr 127.0.0.1:$HTTP_PORT > $D/log 2>&1 &
PID=$!
sleep 3
tok() { python3 - "$@" <<'PY'
import os,sys,json,base64,hmac,hashlib,time
def b(x): return base64.urlsafe_b64encode(x).rstrip(b'=').decode()
h=b(json.dumps({"alg":"HS256","typ":"JWT"}).encode())
c={"sub":sys.argv[1],"roles":sys.argv[2].split(",") if sys.argv[2] else [],"exp":int(time.time())+600}
p=b(json.dumps(c).encode())
s=b(hmac.new(os.environ["SECRET"].encode(),(h+"."+p).encode(),hashlib.sha256).digest())
print(h+"."+p+"."+s)
PY
}
ADMIN=$(tok root admin)
NOROLE=$(tok mallory "")
rss() { ps -o rss= -p $PID | tr -d ' '; }
echo "rss at start: $(rss) KiB"
python3 -c "print('['*100000+']'*100000)" > $D/deep.yaml
python3 - > $D/bomb.yaml <<'PY'
print('x: &big "' + 'a'*10000 + '"')
print('ys:')
for _ in range(100000): print('  - *big')
PY
ls -la $D/deep.yaml $D/bomb.yaml | awk '{print $5, $9}'
for f in deep bomb; do
  curl -s -o $D/$f.out -w "$f (admin): HTTP %{http_code} in %{time_total}s\n" -H "Authorization: Bearer $ADMIN" -H 'content-type: application/yaml' --data-binary @$D/$f.yaml http://127.0.0.1:$HTTP_PORT/admin/v1/bundle
  head -c 200 $D/$f.out; echo
  curl -s -o /dev/null -w "$f (no role): HTTP %{http_code} in %{time_total}s\n" -H "Authorization: Bearer $NOROLE" -H 'content-type: application/yaml' --data-binary @$D/$f.yaml http://127.0.0.1:$HTTP_PORT/admin/v1/bundle
done
echo "rss after: $(rss) KiB"
# Idle connections: open 300 silent sockets from 127.0.0.1, then check the 257th+ are refused.
python3 - <<'PY'
import os,socket,time
socks=[]
for i in range(300):
    s=socket.create_connection(("127.0.0.1",int(os.environ["HTTP_PORT"]))); socks.append(s)
time.sleep(1)
closed=0
for s in socks:
    s.settimeout(0.2)
    try:
        if s.recv(1)==b'': closed+=1
    except socket.timeout: pass
    except ConnectionResetError: closed+=1
print(f"300 silent connections from one address: {closed} closed at once (cap 256 per peer)")
PY
curl -s -o /dev/null -w "healthz from 127.0.0.2 meanwhile: HTTP %{http_code} in %{time_total}s\n" --interface 127.0.0.2 http://127.0.0.1:$HTTP_PORT/healthz
kill $PID; wait $PID 2>/dev/null; rm -rf $D
