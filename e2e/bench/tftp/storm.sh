#!/bin/bash
# TFTP/HTTP boot storm (issue 7, benchmarks 2 and 3): N clients at once each
# fetch pxelinux.0 + ldlinux.c32 + a 10 MiB kernel + a 40 MiB initrd with
# blksize 1468, from node-switch, tftpd-hpa and dnsmasq's TFTP in turn, and
# (HTTP mode) the same with kernel + initrd over node-switch's HTTP endpoint.
# All servers see the same machine at the same moment: one invocation runs
# every competitor, ROUNDS times each, interleaved.
#
# Network: a server namespace and a client namespace joined by one veth
# (MTU 1500) with tc netem delay 0.5 ms and loss 0.1 % on both ends. A
# kernel without sch_netem gets the loss alone, from an nftables numgen
# rule (or iptables' statistic match) on each end's ingress, and no delay;
# the header line says which conditions applied, each run line how many
# packets the rules dropped. Nothing leaves the two namespaces.
#
# Usage (root, from the repository root):
#   e2e/bench/tftp/storm.sh [N...]          default N = 50 200 500
# Env: ROUNDS=3  SERVERS="node-switch tftpd-hpa dnsmasq http"
#      NS_FLAGS="--tftp-anticipate 4"  (extra node-switch serve flags)
#      KERNEL_MB=10 INITRD_MB=40 DELAY=0.5ms LOSS=0.1% (LOSS=0: none) INSTALL=1 (apt-get missing packages)
# Output: one line per run and a summary table (medians; ratios node-switch ÷ competitor).
set -uo pipefail

ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-"node-switch tftpd-hpa dnsmasq http"}
KERNEL_MB=${KERNEL_MB:-10}
INITRD_MB=${INITRD_MB:-40}
DELAY=${DELAY:-0.5ms}
LOSS=${LOSS:-0.1%}
NS_FLAGS=${NS_FLAGS:-}
[ $# = 0 ] && set -- 50 200 500

[ "$(id -u)" = 0 ] || { echo "storm.sh: must run as root (network namespaces)" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
W=$(mktemp -d /tmp/ns-storm.XXXXXX)
chmod 755 "$W"   # dnsmasq drops to nobody and must read the boot root
TAG=st$$
SRV=$TAG-srv
CLI=$TAG-cli
SIP=10.88.0.1
CIP=10.88.0.2
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    # Servers started inside a pipeline's subshell are not in PIDS: kill
    # whatever still runs in our own namespaces (and only there).
    for ns in "$SRV" "$CLI"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
    done
    sleep 0.2
    ip netns del "$SRV" 2>/dev/null
    ip netns del "$CLI" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

need() {
    local missing=() p
    for p in curl tftpd-hpa dnsmasq-base iproute2 pxelinux syslinux-common grub-efi-amd64-bin grub-common; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "${INSTALL:-1}" = 1 ]; then
            apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || exit 1
        else
            echo "storm.sh: missing packages: apt-get install ${missing[*]}" >&2; exit 1
        fi
    fi
}

setup() {
    need
    (cd "$REPO" && go build -o "$W/node-switch" ./cmd/node-switch) || exit 1
    "$W/node-switch" bootroot init "$W/boot" >/dev/null || exit 1
    head -c $((KERNEL_MB << 20)) /dev/urandom > "$W/boot/vmlinuz"
    head -c $((INITRD_MB << 20)) /dev/urandom > "$W/boot/initrd.gz"
    TOTAL_BYTES=$(( $(stat -c %s "$W/boot/pxelinux.0") + $(stat -c %s "$W/boot/ldlinux.c32") + (KERNEL_MB << 20) + (INITRD_MB << 20) ))
    ip netns add "$SRV"; ip netns add "$CLI"
    ip -n "$SRV" link set lo up; ip -n "$CLI" link set lo up
    ip -n "$SRV" link add eth0 type veth peer name eth0 netns "$CLI"
    ip -n "$SRV" addr add $SIP/24 dev eth0; ip -n "$CLI" addr add $CIP/24 dev eth0
    local netem=1
    for ns in "$SRV" "$CLI"; do
        ip -n "$ns" link set eth0 mtu 1500 up
        ip netns exec "$ns" tc qdisc add dev eth0 root netem delay "$DELAY" loss "$LOSS" limit 100000 2>/dev/null || netem=0
    done
    if [ $netem = 1 ]; then
        NETEM="conditions: loss yes ($LOSS each direction, netem), delay yes ($DELAY each direction, netem)"
    else
        for ns in "$SRV" "$CLI"; do ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null; done
        drop_loss
        NETEM="conditions: loss $LOSS_DESC each direction, delay no (kernel lacks sch_netem; nothing else here adds delay)"
    fi
    # 500 clients x several sockets each.
    ip netns exec "$CLI" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
}

# drop_loss: without netem, drop LOSS (a percentage) of the packets arriving
# on eth0 in both namespaces (so each direction, as netem on both ends would)
# with nftables' numgen, or iptables' statistic match. On ingress, not
# egress: a packet dropped in OUTPUT fails the sender's sendto() with EPERM
# (curl then gives up with error 55), which a lossy wire never does. Sets LOSS_DESC to
# what applied and LOSS_HOW to the mechanism.
drop_loss() {
    local per100k ns how=""
    per100k=$(awk -v l="${LOSS%\%}" 'BEGIN { printf "%d", l * 1000 + 0.5 }')
    if [ "$per100k" -le 0 ]; then LOSS_DESC="no (LOSS=$LOSS)"; return; fi
    if ! command -v nft >/dev/null && [ "${INSTALL:-1}" = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nftables >/dev/null 2>&1
    fi
    if command -v nft >/dev/null; then
        how=nftables
        for ns in "$SRV" "$CLI"; do
            ip netns exec "$ns" nft -f - <<NFT || how=""
table inet storm {
    chain in {
        type filter hook prerouting priority -300; policy accept;
        iifname "eth0" numgen random mod 100000 < $per100k counter drop
    }
}
NFT
        done
    fi
    if [ -z "$how" ] && command -v iptables >/dev/null; then
        how=iptables
        for ns in "$SRV" "$CLI"; do
            ip netns exec "$ns" nft delete table inet storm 2>/dev/null
            ip netns exec "$ns" iptables -t raw -A PREROUTING -i eth0 -m statistic --mode random \
                --probability "$(awk -v p="$per100k" 'BEGIN { printf "%.5f", p / 100000 }')" -j DROP || how=""
        done
    fi
    if [ -z "$how" ]; then
        LOSS_DESC="NO (no netem, nftables or iptables statistic: plain veth)"
    else
        LOSS_HOW=$how
        LOSS_DESC="yes ($LOSS, $how random drop on ingress)"
    fi
}

# dropped_packets: what the loss rules dropped so far (both namespaces).
dropped_packets() {
    local ns total=0 d
    for ns in "$SRV" "$CLI"; do
        case ${LOSS_HOW:-} in
        nftables) d=$(ip netns exec "$ns" nft list table inet storm 2>/dev/null | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i+1) }') ;;
        iptables) d=$(ip netns exec "$ns" iptables -t raw -L PREROUTING -nvx 2>/dev/null | awk '$3 == "DROP" { print $1 }') ;;
        *) d=0 ;;
        esac
        total=$((total + ${d:-0}))
    done
    echo "$total"
}

start_server() { # $1 = node-switch|tftpd-hpa|dnsmasq|http
    case $1 in
    node-switch|http)
        rm -f "$W/inv.db"*
        # shellcheck disable=SC2086
        ip netns exec "$SRV" "$W/node-switch" --db "$W/inv.db" serve --boot-root "$W/boot" \
            --tftp-listen "$SIP:69" --http-listen "$SIP:8080" --ssh-listen "" --log-level info $NS_FLAGS \
            >"$W/server.log" 2>&1 &
        ;;
    tftpd-hpa)
        ip netns exec "$SRV" /usr/sbin/in.tftpd --foreground --secure --address "$SIP:69" "$W/boot" >"$W/server.log" 2>&1 &
        ;;
    dnsmasq)
        ip netns exec "$SRV" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=eth0 \
            --bind-interfaces --enable-tftp --tftp-root="$W/boot" --tftp-max=2000 --log-facility="$W/server.log" \
            --pid-file="$W/dnsmasq.pid" --dhcp-leasefile="$W/leases" &
        ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        ip netns exec "$CLI" curl -sf --max-time 2 -o /dev/null "tftp://$SIP/pxelinux.0" && return 0
        sleep 0.1
    done
    echo "storm.sh: $1 did not come up: $(tail -5 "$W/server.log")" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
}

# peak RSS (VmHWM) of node-switch itself (the child of "ip netns exec").
peak_rss_kib() {
    local pid
    pid=$(pgrep -P "$SERVER_PID" -x node-switch || echo "$SERVER_PID")
    awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0
}

one_client() { # $1 = mode, $2 = result file
    local t0 t1 rc k
    t0=$(date +%s.%N)
    if [ "$1" = http ]; then
        ip netns exec "$CLI" curl -sS --tftp-blksize 1468 --max-time 600 \
            -o /dev/null "tftp://$SIP/pxelinux.0" -o /dev/null "tftp://$SIP/ldlinux.c32" \
            -o /dev/null "http://$SIP:8080/vmlinuz" -o /dev/null "http://$SIP:8080/initrd.gz" 2>>"$W/client-errors"
    else
        ip netns exec "$CLI" curl -sS --tftp-blksize 1468 --max-time 600 \
            -o /dev/null "tftp://$SIP/pxelinux.0" -o /dev/null "tftp://$SIP/ldlinux.c32" \
            -o /dev/null "tftp://$SIP/vmlinuz" -o /dev/null "tftp://$SIP/initrd.gz" 2>>"$W/client-errors"
    fi
    rc=$?
    t1=$(date +%s.%N)
    echo "$rc $(echo "$t1 - $t0" | bc)" >> "$2"
}

storm() { # $1 = server/mode, $2 = N, $3 = round -> prints one result line
    local mode=$1 n=$2 res="$W/res-$1-$2-$3" i t0 t1 rss d0 d1
    : > "$res"
    start_server "$mode" || { echo "$mode N=$n round=$3 FAILED-TO-START"; return; }
    d0=$(dropped_packets)
    t0=$(date +%s.%N)
    for i in $(seq "$n"); do one_client "$mode" "$res" & done
    wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null
    # "wait" above may also wait for the server on some shells; make sure
    # every client wrote its line.
    while [ "$(wc -l < "$res")" -lt "$n" ]; do sleep 0.1; done
    t1=$(date +%s.%N)
    d1=$(dropped_packets)
    rss=0
    [ "$mode" = node-switch ] || [ "$mode" = http ] && rss=$(peak_rss_kib)
    stop_server
    # Percentiles from sorted completion times (mawk has no asort).
    local ok failed p50 p99 wall
    ok=$(awk '$1 == 0' "$res" | wc -l)
    failed=$((n - ok))
    awk '$1 == 0 {print $2}' "$res" | sort -n > "$res.sorted"
    p50=$(pct "$res.sorted" "$ok" 50)
    p99=$(pct "$res.sorted" "$ok" 99)
    wall=$(echo "$t1 - $t0" | bc)
    awk -v ok="$ok" -v wall="$wall" -v bytes="$TOTAL_BYTES" -v mode="$mode" -v n="$n" -v round="$3" -v rss="$rss" \
        -v p50="$p50" -v p99="$p99" -v failed="$failed" -v dropped=$((d1 - d0)) 'BEGIN {
        printf "%s N=%d round=%d aggregate_MBps=%.1f p50_s=%.2f p99_s=%.2f failed=%d wall_s=%.1f peak_rss_MiB=%.1f dropped_pkts=%d\n",
            mode, n, round, ok * bytes / 1048576 / wall, p50, p99, failed, wall, rss / 1024, dropped }'
}

# pct FILE COUNT P: the P-th percentile (nearest rank) of a sorted column.
pct() {
    local rank
    [ "$2" -gt 0 ] || { echo 0; return; }
    rank=$(( ($2 * $3 + 99) / 100 ))
    [ "$rank" -lt 1 ] && rank=1
    sed -n "${rank}p" "$1"
}

# median of the values of KEY for MODE and N in the results file.
median() { # $1 mode $2 n $3 key
    local vals cnt
    vals=$(awk -v m="$1" -v n="N=$2" -v k="$3" '$1 == m && $2 == n { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$W/all" | sort -n)
    cnt=$(echo "$vals" | grep -c .)
    [ "$cnt" -gt 0 ] || { echo 0; return; }
    echo "$vals" | sed -n "$(( (cnt + 1) / 2 ))p"
}

main() {
    setup
    echo "# storm.sh $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus; files: pxelinux.0 ldlinux.c32 ${KERNEL_MB}MiB ${INITRD_MB}MiB; $NETEM; node-switch flags: ${NS_FLAGS:-none}"
    local n r s
    for n in "$@"; do
        for r in $(seq "$ROUNDS"); do
            for s in $SERVERS; do
                storm "$s" "$n" "$r" | tee -a "$W/all"
            done
        done
    done
    echo "# medians over $ROUNDS rounds; ratio = node-switch TFTP aggregate / this row's aggregate (http row: its inverse is the HTTP speed-up)"
    printf "%-12s %5s %10s %8s %8s %7s %9s %8s\n" server N MB/s p50_s p99_s failed rss_MiB ratio
    for n in "$@"; do
        local nsagg; nsagg=$(median node-switch "$n" aggregate_MBps)
        for s in $SERVERS; do
            local agg; agg=$(median "$s" "$n" aggregate_MBps)
            printf "%-12s %5s %10s %8s %8s %7s %9s %8s\n" "$s" "$n" "$agg" "$(median "$s" "$n" p50_s)" "$(median "$s" "$n" p99_s)" \
                "$(median "$s" "$n" failed)" "$(median "$s" "$n" peak_rss_MiB)" \
                "$(awk -v a="$nsagg" -v b="$agg" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
        done
    done
    if [ -s "$W/client-errors" ]; then
        echo "# client errors (first 5):"; sort "$W/client-errors" | uniq -c | sort -rn | head -5
    fi
}

main "$@"
