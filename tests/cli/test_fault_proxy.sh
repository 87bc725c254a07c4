#!/usr/bin/env bash
# test_fault_proxy.sh - the test proxy itself (tests/tools/fault_proxy.c)
# between curl and `rclone serve restic`: bodies framed by Content-Length
# and chunked, several requests on one kept-alive connection, each fault
# kind, the latency and bandwidth it adds, its statistics.  Skipped (77)
# without rclone or curl.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_remote.sh"

need_rclone
command -v curl >/dev/null || skip "curl is not installed"
start_rclone "$WORK/store"

# c ARGS...: curl, its exit status in CRC (curl fails on a cut answer).
c() {
    CRC=0
    curl -s "$@" || CRC=$?
}

random_file blob 300000
start_proxy p --fault 3:503 --fault 4:429 --fault 5:truncate --fault 6:reset \
    --fault 7:stall --stall-ms 300
base=http://127.0.0.1:$PROXY_PORT
c -X POST "$base/?create=true" -o /dev/null                                   # 1
c -X POST --data-binary @blob "$base/data/$(printf 'ab%.0s' {1..32})" -o /dev/null # 2
[ "$CRC" -eq 0 ] || fail "a plain upload failed: curl $CRC"
name=$(printf 'ab%.0s' {1..32})
c -D h3 "$base/data/$name" -o /dev/null                                        # 3
grep -q '^HTTP/1.1 503' h3 && grep -q -i '^Retry-After: 1' h3 ||
    fail "503 fault: $(cat h3)"
c -D h4 "$base/data/$name" -o /dev/null                                        # 4
grep -q '^HTTP/1.1 429' h4 && grep -q -i '^Retry-After: 1' h4 ||
    fail "429 fault: $(cat h4)"
c "$base/data/$name" -o cut                                                    # 5
[ "$CRC" -eq 18 ] || fail "truncate: curl exited $CRC, expected 18 (partial file)"
[ "$(stat -c %s cut)" -eq 150000 ] || fail "truncate: $(stat -c %s cut) bytes came, expected half"
c "$base/data/$name" -o /dev/null                                              # 6
[ "$CRC" -ne 0 ] || fail "reset: curl succeeded"
c -m 5 "$base/data/$name" -o /dev/null                                         # 7
[ "$CRC" -eq 52 ] || [ "$CRC" -eq 56 ] || fail "stall: curl exited $CRC, expected 52 or 56 (closed without an answer)"
# Three requests on one connection, a listing (chunked or not) among them.
c "$base/data/$name" -o got1 "$base/data/$name" -o got2 \
    -H 'Accept: application/vnd.x.restic.rest.v2' "$base/data/" -o list  # 8-10
cmp -s got1 blob && cmp -s got2 blob || fail "kept-alive downloads differ"
grep -q "\"size\":300000" list || fail "the listing came wrong: $(cat list)"
stop_proxy
[ "$(proxy_stat p requests)" -eq 10 ] || fail "requests $(proxy_stat p requests), expected 10"
[ "$(proxy_stat p faults)" -eq 5 ] || fail "faults $(proxy_stat p faults), expected 5"
up=$(proxy_stat p bytes_up) down=$(proxy_stat p bytes_down)
[ "$up" -gt 300000 ] && [ "$up" -lt 310000 ] || fail "bytes_up $up"
[ "$down" -gt 750000 ] && [ "$down" -lt 770000 ] || fail "bytes_down $down"
[ "$(wc -l <p.log)" -eq 10 ] || fail "the log has not one line a request: $(cat p.log)"
grep -q ' 5 GET /data/.* 200 truncate$' p.log || fail "the log lacks the truncated GET: $(cat p.log)"
pass

# Latency: 50 ms each way; one connection: its handshake and three round
# trips, 4 x 100 ms.
start_proxy slow --latency 50
base=http://127.0.0.1:$PROXY_PORT
t0=$(date +%s%N)
c "$base/config" -o /dev/null "$base/config" -o /dev/null "$base/config" -o /dev/null
lat_ms=$((($(date +%s%N) - t0) / 1000000))
stop_proxy
[ "$lat_ms" -ge 400 ] && [ "$lat_ms" -lt 1500 ] || fail "latency 50: three requests took $lat_ms ms, expected about 400"
pass

# Bandwidth: 1 MB down at 500 kB/s takes about 2 s.
random_file blob2 1000000
name2=$(printf 'cd%.0s' {1..32})
curl -s -X POST --data-binary @blob2 "http://127.0.0.1:$RCLONE_PORT/data/$name2" -o /dev/null
start_proxy narrow --bandwidth 500000
t0=$(date +%s%N)
c "http://127.0.0.1:$PROXY_PORT/data/$name2" -o got3
ms=$((($(date +%s%N) - t0) / 1000000))
stop_proxy
cmp -s got3 blob2 || fail "bandwidth: the download differs"
[ "$ms" -ge 1800 ] && [ "$ms" -lt 4000 ] || fail "bandwidth 500000: 1 MB took $ms ms, expected about 2000"
note "latency 50 ms: 3 requests in $lat_ms ms; 1 MB at 500 kB/s in $ms ms"
pass
