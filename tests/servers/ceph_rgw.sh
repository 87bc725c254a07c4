#!/usr/bin/env bash
# ceph_rgw.sh - a one-node Ceph cluster with the RADOS Gateway (S3), for
# tests and benchmarks, started without systemd.
#
#   ceph_rgw.sh start DIR [PORT]   start (or reuse) a cluster under DIR and
#                                  print its export lines (as `env` does)
#   ceph_rgw.sh env DIR            print the export lines of a running one
#   ceph_rgw.sh stop DIR           kill every daemon started under DIR
#
# Everything lives under DIR (config, keyrings, the monitor's store, the
# OSD, logs, pid files, admin sockets); daemons listen on 127.0.0.1 only.
# One ceph-mon, one OSD (memstore by default: the data lives in the OSD's
# memory, which is what a test wants; CEPH_RGW_STORE=bluestore puts it on
# a 4 GiB sparse file under DIR instead), no ceph-mgr (I/O does not need
# it; `ceph -s` then shows unknown PGs), and radosgw with the beast
# frontend on 127.0.0.1:PORT (PORT: a free one if not given).
#
# The export lines: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_DEFAULT_REGION, VAULT_TEST_S3_URL=s3:http://127.0.0.1:PORT/<bucket>
# (the bucket does not exist yet: `vault init` makes it).
#
# Needs ceph-mon, ceph-osd, radosgw, ceph-common and curl (scripts/deps.sh
# installs them).  Readiness is an S3 request answered by radosgw
# (polled, CEPH_RGW_TIMEOUT seconds, 120 by default); on failure the
# daemons' logs are printed and the daemons stopped.
set -euo pipefail

usage() {
    echo "usage: $0 start DIR [PORT] | env DIR | stop DIR" >&2
    exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
CONF=$DIR/ceph.conf
DAEMONS="mon.a osd.0 client.rgw"

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

ceph_cli() { timeout 60 ceph -c "$CONF" -n client.admin "$@"; }

pid_of() {
    local f=$DIR/run/$1.pid
    [ -s "$f" ] && cat "$f"
}

running() {
    local pid
    pid=$(pid_of "$1") || return 1
    kill -0 "$pid" 2>/dev/null
}

do_stop() {
    local d pid n
    # Reverse order: the gateway first, the monitor last.
    for d in client.rgw osd.0 mon.a; do
        pid=$(pid_of "$d") || continue
        kill "$pid" 2>/dev/null || true
    done
    for d in client.rgw osd.0 mon.a; do
        pid=$(pid_of "$d") || continue
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$DIR/run/$d.pid"
    done
}

show_logs() {
    local f
    for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
        [ -f "$f" ] || continue
        echo "----- $f (last 40 lines)" >&2
        tail -n 40 "$f" >&2
    done
}

fail() {
    echo "ceph_rgw.sh: $*" >&2
    show_logs
    do_stop
    exit 1
}

do_env() {
    [ -f "$DIR/env" ] || { echo "ceph_rgw.sh: no cluster under $DIR" >&2; exit 1; }
    cat "$DIR/env"
}

# An S3 request that radosgw answers with XML once it serves S3 (an
# anonymous ListBuckets: 200 or 403 both say it is up).
rgw_answers() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
           "http://127.0.0.1:$1/" 2>/dev/null) || return 1
    [ "$code" = 200 ] || [ "$code" = 403 ]
}

# The user's keys work when a signed ListBuckets answers 200.
s3_ready() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
           --aws-sigv4 "aws:amz:us-east-1:s3" \
           --user "$ACCESS:$SECRET" \
           -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
           "http://127.0.0.1:$1/" 2>/dev/null) || return 1
    [ "$code" = 200 ]
}

random_alnum() {
    # $1 characters from [A-Z0-9] (or [A-Za-z0-9] with $2 = mixed).
    python3 -c 'import secrets, string, sys
chars = string.ascii_uppercase + string.digits
if sys.argv[2] == "mixed":
    chars += string.ascii_lowercase
print("".join(secrets.choice(chars) for _ in range(int(sys.argv[1]))))' "$1" "${2:-upper}"
}

do_start() {
    local rgw_port=${1:-}
    if [ -f "$DIR/env" ] && running mon.a && running osd.0 && running client.rgw; then
        do_env
        return
    fi
    do_stop
    for tool in ceph-mon ceph-osd radosgw ceph ceph-authtool monmaptool radosgw-admin; do
        command -v "$tool" >/dev/null ||
            { echo "ceph_rgw.sh: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
    done
    local started=$SECONDS
    local timeout=${CEPH_RGW_TIMEOUT:-120}
    rm -rf "$DIR/mon" "$DIR/osd" "$DIR/run" "$DIR/log" "$DIR/rgw" "$DIR/env" "$DIR"/*.keyring "$DIR/osd.block"
    mkdir -p "$DIR/mon" "$DIR/osd" "$DIR/run" "$DIR/log" "$DIR/rgw" "$DIR/crash"
    local mon_port fsid store
    mon_port=$(free_port)
    [ -n "$rgw_port" ] || rgw_port=$(free_port)
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    store=${CEPH_RGW_STORE:-memstore}

    # Each daemon names its own keyring: a global `keyring` would hide them
    # ("failed to fetch mon config").
    cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# A new pool or user is a monitor proposal; the 1 s default makes the
# gateway's first start take a minute.
paxos propose interval = 0.01
paxos min wait = 0.01
mon osd reporter subtree level = osd

[mon.a]
mon data = $DIR/mon
keyring = $DIR/mon.keyring

[osd.0]
osd data = $DIR/osd
keyring = $DIR/osd/keyring
osd objectstore = $store
memstore device bytes = 2147483648
bluestore block path = $DIR/osd.block
bluestore block create = true
bluestore block size = 4294967296
osd max object size = 134217728

[client.admin]
keyring = $DIR/admin.keyring

[client.rgw]
keyring = $DIR/rgw.keyring
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw dns name = 127.0.0.1
EOF

    ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. \
        --cap mon 'allow *' >/dev/null
    ceph-authtool --create-keyring "$DIR/admin.keyring" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' \
        --cap mds 'allow *' >/dev/null
    ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/admin.keyring" >/dev/null
    monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" \
        "$DIR/monmap" >/dev/null
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" \
        --keyring "$DIR/mon.keyring" >"$DIR/log/mkfs-mon.out" 2>&1 ||
        fail "ceph-mon --mkfs failed"
    ceph-mon -c "$CONF" -i a >"$DIR/log/mon.a.out" 2>&1 || fail "ceph-mon did not start"

    local uuid
    uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    local id
    id=$(ceph_cli osd new "$uuid" 2>"$DIR/log/osd-new.out") || fail "ceph osd new failed"
    [ "$id" = 0 ] || fail "the OSD got id $id, not 0"
    ceph-osd -c "$CONF" -i 0 --no-mon-config --mkfs --mkkey --osd-uuid "$uuid" \
        >"$DIR/log/mkfs-osd.out" 2>&1 || fail "ceph-osd --mkfs failed"
    ceph_cli auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
        -i "$DIR/osd/keyring" >/dev/null 2>&1 || fail "ceph auth add osd.0 failed"
    ceph-osd -c "$CONF" -i 0 >"$DIR/log/osd.0.out" 2>&1 || fail "ceph-osd did not start"

    ceph_cli auth get-or-create client.rgw mon 'allow rw' osd 'allow rwx' \
        -o "$DIR/rgw.keyring" >/dev/null 2>&1 || fail "ceph auth for client.rgw failed"
    radosgw -c "$CONF" -n client.rgw >"$DIR/log/client.rgw.out" 2>&1 ||
        fail "radosgw did not start"

    while ! rgw_answers "$rgw_port"; do
        [ $((SECONDS - started)) -lt "$timeout" ] ||
            fail "radosgw does not answer on 127.0.0.1:$rgw_port after ${timeout} s"
        running client.rgw || fail "radosgw exited"
        sleep 0.2
    done

    ACCESS=$(random_alnum 20)
    SECRET=$(random_alnum 40 mixed)
    timeout 60 radosgw-admin -c "$CONF" -n client.admin user create --uid=vault \
        --display-name=vault --access-key="$ACCESS" --secret-key="$SECRET" \
        >"$DIR/log/user-create.out" 2>&1 || fail "radosgw-admin user create failed"
    while ! s3_ready "$rgw_port"; do
        [ $((SECONDS - started)) -lt "$timeout" ] ||
            fail "the S3 user's requests fail after ${timeout} s"
        sleep 0.2
    done
    local bucket
    bucket=vault-$(random_alnum 8 | tr 'A-Z' 'a-z')
    umask 077
    cat >"$DIR/env" <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS
export AWS_SECRET_ACCESS_KEY=$SECRET
export AWS_DEFAULT_REGION=us-east-1
export VAULT_TEST_S3_URL=s3:http://127.0.0.1:$rgw_port/$bucket
EOF
    echo "ceph_rgw.sh: S3 ready on 127.0.0.1:$rgw_port after $((SECONDS - started)) s" >&2
    do_env
}

case $cmd in
start) do_start "${3:-}" ;;
env) do_env ;;
stop) do_stop ;;
*) usage ;;
esac
