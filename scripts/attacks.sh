#!/usr/bin/env bash
# The availability attacks of docs/SECURITY.md against the built binary, with timings: a
# 200 KB deeply nested bundle, a 0.9 MB alias bomb (as an admin and as a token with no role),
# the server's resident memory before and after, 300 silent connections from one address, one
# silent connection left alone, a save whose check never ends (with /healthz timed meanwhile), a
# reader's 14 MB form of 3.5 million fields to an edit page, an oversized form, and DNS rebinding
# (a foreign Host). The render attack (one org's hostile renders against another org's reads)
# needs a gRPC load generator: `cargo run --release -p mcp-config-bench -- all --only renders`.
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
if len(sys.argv) > 3: c["org"]=sys.argv[3]
p=b(json.dumps(c).encode())
s=b(hmac.new(os.environ["SECRET"].encode(),(h+"."+p).encode(),hashlib.sha256).digest())
print(h+"."+p+"."+s)
PY
}
ADMIN=$(tok root admin)
NOROLE=$(tok mallory "")
READER=$(tok rita reader acme)
EDITOR=$(tok ed editor acme)
BASE=http://127.0.0.1:$HTTP_PORT
curl -s -o /dev/null -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' --data '{"slug":"acme"}' $BASE/admin/v1/orgs
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
import os,select,socket,time
socks=[]
for i in range(300):
    s=socket.create_connection(("127.0.0.1",int(os.environ["HTTP_PORT"]))); socks.append(s)
time.sleep(1)
# Readable at once means closed (a silent peer is never sent anything it could read).
readable,_,_=select.select(socks,[],[],0)
closed=0
for s in readable:
    try:
        if s.recv(1)==b'': closed+=1
    except ConnectionResetError: closed+=1
print(f"300 silent connections from one address: {closed} closed at once (cap 256 per peer)")
PY
curl -s -o /dev/null -w "healthz from 127.0.0.2 meanwhile: HTTP %{http_code} in %{time_total}s\n" --interface 127.0.0.2 http://127.0.0.1:$HTTP_PORT/healthz
# One silent connection: closed at the header read timeout, not the idle timeout.
python3 - <<'PY'
import os,socket,time
s=socket.create_connection(("127.0.0.1",int(os.environ["HTTP_PORT"])), timeout=120)
started=time.time()
try: s.recv(1)
except (ConnectionResetError, socket.timeout): pass
print(f"one silent connection: closed after {time.time()-started:.1f}s")
PY
# A save whose check runs past the render budget, with /healthz asked meanwhile.
SPIN='{"content":{"messages":[{"role":"user","text":"{{ ([1, 2, 3] * 30000000)[-1] }}"}]}}'
curl -s -o $D/spin.out -w "costly save: HTTP %{http_code} in %{time_total}s\n" -X PUT -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' --data "$SPIN" $BASE/admin/v1/orgs/acme/servers/github/prompts/spin &
SAVE=$!
sleep 0.3
curl -s -o /dev/null -w "healthz during the costly save: HTTP %{http_code} in %{time_total}s\n" $BASE/healthz
wait $SAVE
head -c 200 $D/spin.out; echo
# A reader's huge form to an edit route: refused before the body is read.
python3 -c "import sys; sys.stdout.write('&'.join(['a=b']*3500000))" > $D/form
ls -la $D/form | awk '{print "form: " $5 " bytes"}'
curl -s -o /dev/null -w "reader's form to save: HTTP %{http_code} in %{time_total}s\n" -H "Cookie: mcp_config_session=$READER" -H "Origin: $BASE" -H 'content-type: application/x-www-form-urlencoded' --data-binary @$D/form $BASE/ui/orgs/acme/github/save/prompts
head -c 18000000 /dev/zero | tr '\0' 'a' > $D/big
curl -s -o /dev/null -w "editor's 18 MB form: HTTP %{http_code} in %{time_total}s\n" -H "Cookie: mcp_config_session=$EDITOR" -H "Origin: $BASE" -H 'content-type: application/x-www-form-urlencoded' --data-binary @$D/big $BASE/ui/orgs/acme/github/save/prompts
echo "rss at the end: $(rss) KiB"
# DNS rebinding: a page on evil.example resolved to 127.0.0.1.
curl -s -o /dev/null -w "Host: evil.example to /admin/v1/orgs: HTTP %{http_code}\n" -H "Host: evil.example" -H "Authorization: Bearer $ADMIN" $BASE/admin/v1/orgs
curl -s -o /dev/null -w "Host: evil.example to /ui/: HTTP %{http_code}\n" -H "Host: evil.example" -H "Cookie: mcp_config_session=$ADMIN" $BASE/ui/
curl -s -o /dev/null -w "Host and Origin localhost to /healthz: HTTP %{http_code}\n" -H "Host: localhost:$HTTP_PORT" -H "Origin: http://localhost:$HTTP_PORT" $BASE/healthz
kill $PID; wait $PID 2>/dev/null; rm -rf $D
