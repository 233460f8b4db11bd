#!/bin/bash
# Every side-by-side benchmark in one invocation, as root from a clean
# checkout (each part installs the Debian packages it lacks):
#
#   sudo e2e/bench/run.sh
#
# 1. DHCP: perfdhcp against node-switch, dnsmasq, ISC dhcpd and Kea with the
#    same 10,000 reservations, plus a CPU profile of node-switch under load.
# 2. Switching: move 1,000 nodes until the next DHCP offer shows it, against
#    rewriting dhcpd.conf and restarting ISC dhcpd.
# 3. TFTP/HTTP boot storms: node-switch against tftpd-hpa and dnsmasq, and
#    node-switch's HTTP, with peak RSS: without loss, then with 0.1% loss.
# 4. The inventory: one move of 1,000 nodes.
# Env passes through to the parts (RUNS, SECS for DHCP; ROUNDS, STORM_ROUNDS,
# N for the storms: N="50 200" by default). Numbers go to stdout; README.md's
# performance table records a run of this script.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces, ports 67 and 69)" >&2; exit 1; }
cd "$(dirname "$0")/../.."
echo "== node-switch benchmarks $(date -u +%FT%TZ) on $(nproc) CPUs, kernel $(uname -r)"
echo "== 1. DHCP"
bash e2e/bench/dhcp/run.sh
echo "== 2. switching 1,000 nodes"
go test -run '^$' -bench Switching -benchtime "${SWITCHES:-7}x" ./e2e/bench/switching/ | grep -E '^Benchmark|ok|FAIL'
echo "== 3a. TFTP boot storm, full 10 + 40 MiB files, no loss"
LOSS=0 ROUNDS="${ROUNDS:-3}" SERVERS="node-switch tftpd-hpa" bash e2e/bench/tftp/storm.sh 50
echo "== 3b. TFTP/HTTP boot storms with 0.1% loss, 2 + 4 MiB files"
# Under loss tftpd-hpa needs minutes per round even with small files, hence
# the sizes and one round; set KERNEL_MB/INITRD_MB/ROUNDS to change them.
# shellcheck disable=SC2086
KERNEL_MB="${KERNEL_MB:-2}" INITRD_MB="${INITRD_MB:-4}" ROUNDS="${STORM_ROUNDS:-1}" bash e2e/bench/tftp/storm.sh ${N:-50 200}
echo "== 4. inventory: one move of 1,000 nodes"
go test -run '^$' -bench Move1000 -benchtime 20x ./nodes/ | grep -E '^Benchmark'
