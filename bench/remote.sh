#!/usr/bin/env bash
# The cost of `duckc -H`: a private sshd on 127.0.0.1 (Debian's openssh-server) stands in for
# the remote host, and the remote duckc is this checkout's, with a store of its own.
#
#   bench/remote.sh [WORKDIR]     (default /tmp/duckc-bench/remote; run as root)
#
# Reports (median of RUNS, default 10, in milliseconds):
#   ps      `duckc -H bench ps` against `ssh HOST duckc ps` typed by hand (goal: <= 1.2x)
#   noop    `duckc -H bench build examples/hello/env.kdl` with nothing changed, against
#           `ssh HOST duckc build` of the same spec already on the remote (goal: <= 1.2x)
#   edit    bytes of build context sent after a one-line edit of examples/hello/hello.sh
#           (goal: about that file's size)
#   push    bytes sent by a first and a second `duckc push ssh://` of the built image
#   copy    (COPY=1) examples/python to the other side, each run into an empty destination, in
#           one hyperfine run: `duckc push ssh://` into an empty remote store, against
#           `docker save | ssh HOST docker load` between two dockerds (the laptop's and the
#           remote's, on sockets of their own, no bridge, no iptables) and against
#           `skopeo copy` to a loopback docker-registry, then `ssh HOST skopeo copy` from it
#           into an OCI layout there (the registry emptied before each run)
# Env: RUNS=10 DUCKC=path/to/duckc (default: a release build of this checkout) KEEP=1
#      COPY=1 PY_STORE=a store holding duckc-example/python:latest (default: built into the
#      workdir from examples/python, which needs the host's apt sources) COPY_RUNS=3.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/duckc-bench/remote}
RUNS=${RUNS:-10}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
. bench/lib.sh
for t in ssh ssh-keygen sshd; do command -v $t >/dev/null || { echo "missing: $t (apt-get install openssh-server openssh-client)"; exit 1; }; done
duckc_binary
rm -rf "$W"
mkdir -p "$W"/{local,remote,config}
ssh-keygen -q -t ed25519 -N '' -f "$W/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$W/id"
cp "$W/id.pub" "$W/authorized_keys"
mkdir -p /run/sshd
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $W/host_key
PidFile $W/sshd.pid
AuthorizedKeysFile $W/authorized_keys
PermitRootLogin prohibit-password
AllowUsers root
PasswordAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
EOF
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$W/host_key.pub")" > "$W/known_hosts"
cat > "$W/ssh_config" <<EOF
Host *
  IdentityFile $W/id
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $W/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
EOF
/usr/sbin/sshd -D -e -f "$W/sshd_config" 2>"$W/sshd.log" &
SSHD=$!
PIDS=()
cleanup() {
    kill "$SSHD" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$W/registry.pid" ] && kill "$(cat "$W/registry.pid")" 2>/dev/null
    [ ${#PIDS[@]} -eq 0 ] || sleep 3
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.05; done

export DUCKC_STORE=$W/local XDG_CONFIG_HOME=$W/config DUCKC_SSH_COMMAND="ssh -F $W/ssh_config"
"$DUCKC" host add bench "ssh://root@127.0.0.1:$PORT" --duckc "$DUCKC" --remote-store "$W/remote" >/dev/null
SSH=(ssh -F "$W/ssh_config" -o BatchMode=yes -p "$PORT" root@127.0.0.1)

# median_ms CMD…: the median wall time of RUNS runs, in milliseconds.
median_ms() {
    local t=()
    for _ in $(seq "$RUNS"); do
        local a b
        a=$(date +%s%N)
        "$@" >/dev/null 2>&1
        b=$(date +%s%N)
        t+=($(((b - a) / 1000000)))
    done
    printf '%s\n' "${t[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

CTX=$W/hello
cp -r examples/hello "$CTX"
cp /bin/busybox "$CTX/busybox"
"$DUCKC" -H bench build "$CTX/env.kdl" >/dev/null 2>"$W/first.err"

ps_h=$(median_ms "$DUCKC" -H bench ps)
ps_ssh=$(median_ms "${SSH[@]}" "$DUCKC" --store "$W/remote" ps)
noop_h=$(median_ms "$DUCKC" -H bench build "$CTX/env.kdl")
noop_ssh=$(median_ms "${SSH[@]}" "$DUCKC" --store "$W/remote" build "$CTX/env.kdl")

echo 'echo "edited"' >> "$CTX/hello.sh"
"$DUCKC" -H bench build "$CTX/env.kdl" >/dev/null 2>"$W/edit.err"
edit=$(grep -m1 '^sent ' "$W/edit.err")
first=$(grep -m1 '^sent ' "$W/first.err")

"$DUCKC" --store "$W/local" pull ssh://bench/duckc-example/hello:latest >/dev/null 2>"$W/pull.err"
rm -rf "$W/remote2" && mkdir -p "$W/remote2"
"$DUCKC" host add bench2 "ssh://root@127.0.0.1:$PORT" --duckc "$DUCKC" --remote-store "$W/remote2" >/dev/null
"$DUCKC" push ssh://bench2/duckc-example/hello:latest >/dev/null 2>"$W/push1.err"
"$DUCKC" push ssh://bench2/duckc-example/hello:latest >/dev/null 2>"$W/push2.err"

printf '%-8s %10s %14s %7s\n' what 'duckc -H' 'ssh by hand' ratio
printf '%-8s %8sms %12sms %7s\n' ps "$ps_h" "$ps_ssh" "$(ratio "$ps_h" "$ps_ssh")"
printf '%-8s %8sms %12sms %7s\n' noop "$noop_h" "$noop_ssh" "$(ratio "$noop_h" "$noop_ssh")"
echo "first build:        $first"
echo "after a one-line edit of hello.sh ($(stat -c %s "$CTX/hello.sh") bytes): $edit"
echo "first push:         $(grep -m1 '^sent ' "$W/push1.err")"
echo "second push:        $(grep -m1 '^sent ' "$W/push2.err")"

[ -n "${COPY:-}" ] || exit 0

# --- copy: examples/python to the other side --------------------------------------------
for t in hyperfine dockerd docker skopeo docker-registry; do command -v $t >/dev/null || { echo "missing: $t"; exit 1; }; done
IMG=duckc-example/python:latest
if [ -z "${PY_STORE:-}" ]; then
    PY_STORE=$W/py-store
    cp -r examples/python "$W/python"
    "$DUCKC" --store "$PY_STORE" build "$W/python/env.kdl" >/dev/null 2>"$W/py-build.err" || { cat "$W/py-build.err"; exit 1; }
fi
"$DUCKC" --store "$PY_STORE" inspect "$IMG" >/dev/null

# Two dockerds, the laptop's and the remote's; neither touches the host's network.
start_dockerd() {
    local d=$W/docker-$1
    mkdir -p "$d"
    dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$d/docker.sock" \
        --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs \
        --bridge none --iptables=false --ip6tables=false >"$d/log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do docker -H "unix://$d/docker.sock" info >/dev/null 2>&1 && return; sleep 0.1; done
    echo "dockerd $1 did not start: $d/log"; exit 1
}
start_dockerd laptop
start_dockerd remote
DL="docker -H unix://$W/docker-laptop/docker.sock"
DR="docker -H unix://$W/docker-remote/docker.sock"
"$DUCKC" --store "$PY_STORE" save --format docker -o "$W/py.tar" "$IMG"
$DL load -i "$W/py.tar" >/dev/null
rm "$W/py.tar"

# A loopback registry, emptied and restarted before each skopeo run.
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$W/registry-data" "$RPORT" > "$W/registry.yml"
{
    echo '#!/bin/sh'
    echo "[ -f $W/registry.pid ] && kill \$(cat $W/registry.pid) 2>/dev/null && sleep 0.3"
    echo "rm -rf $W/registry-data $W/remote-layout"
    echo "setsid docker-registry serve $W/registry.yml </dev/null >>$W/registry.log 2>&1 &"
    echo "echo \$! > $W/registry.pid"
    echo "until python3 -c \"import socket; socket.create_connection(('127.0.0.1',$RPORT))\" 2>/dev/null; do sleep 0.05; done"
} > "$W/registry-fresh.sh"
chmod +x "$W/registry-fresh.sh"
"$DUCKC" --store "$PY_STORE" export-layout "$IMG" "$W/py-layout" >/dev/null
mkdir -p "$W/remote3"
"$DUCKC" host add bench3 "ssh://root@127.0.0.1:$PORT" --duckc "$DUCKC" --remote-store "$W/remote3" >/dev/null
SSHQ="${SSH[*]}"
R=127.0.0.1:$RPORT/bench/python:latest
hyperfine --runs "${COPY_RUNS:-3}" --export-json "$W/copy.json" --style basic \
    -n 'duckc push ssh://' \
    --prepare "rm -rf $W/remote3 && mkdir -p $W/remote3" \
    "$DUCKC --store $PY_STORE push -q ssh://bench3/$IMG" \
    -n 'docker save | ssh | docker load' \
    --prepare "$DR rmi -f $IMG >/dev/null 2>&1; $DR image prune -af >/dev/null" \
    "$DL save $IMG | $SSHQ $DR load" \
    -n 'skopeo copy via registry' \
    --prepare "$W/registry-fresh.sh" \
    "skopeo copy -q --dest-tls-verify=false oci:$W/py-layout docker://$R && $SSHQ skopeo copy -q --src-tls-verify=false docker://$R oci:$W/remote-layout:latest"
a=$("$DUCKC" --store "$W/remote3" inspect --format '{{.Digest}}' "$IMG")
b=$("$DUCKC" --store "$PY_STORE" inspect --format '{{.Digest}}' "$IMG")
[ "$a" = "$b" ] && echo "duckc push: the same digest on both sides, $a"
echo "bytes: $(du -sb "$W/remote3/blobs" 2>/dev/null | cut -f1) in the remote store's blobs (duckc), $(du -sb "$W/py-layout/blobs" | cut -f1) in skopeo's source layout"
python3 - "$W/copy.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["median"]
for x in r:
    print(f'{x["command"]:34} median {x["median"]:7.2f} s  ({x["median"]/base:5.2f}x duckc push)')
PYEOF
