#!/usr/bin/env bash
# Stats latency and live fan-out on this machine (BENCHMARKS.md, "Stats and
# live"). Starts a server, measures, stops it.
#
#   bench/live.sh [records] [clients]
#
# The server is bench/liveserver (synthetic Deruta records over the last
# eight weeks) until `flowtiles serve` wires /api/stats, /api/live and
# /api/ingest; then set FLOWTILES_BENCH_SERVE=1 to measure the real binary
# on its embedded demo data (with FLOWTILES_INGEST_TOKEN=bench).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
clients=${2:-1000}
addr=127.0.0.1:8089
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/" ./bench/liveserver ./bench/livefanout ./bench/statslatency ./cmd/flowtiles
ulimit -n 65536 2>/dev/null || true

if [ "${FLOWTILES_BENCH_SERVE:-}" = 1 ]; then
  # every SSE client comes from this machine: no per-client connection cap
  FLOWTILES_INGEST_TOKEN=bench "$bin/flowtiles" serve --listen "$addr" --max-conns-per-client=-1 &
else
  "$bin/liveserver" -listen "$addr" -token bench -records "$records" &
fi
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$bin"' EXIT
for _ in $(seq 600); do
  curl -fs "http://$addr/api/stats?zone=centro" >/dev/null 2>&1 && break
  sleep 0.5
done

echo "== /api/stats, month window, zone centro ($records records over 8 weeks)"
"$bin/statslatency" -url "http://$addr" -area zone=centro -to "$(date -u +%F)" -by none,hour,origin -n 20

echo "== live fan-out: $clients SSE clients"
mem=/debug/mem; [ "${FLOWTILES_BENCH_SERVE:-}" = 1 ] && mem=
"$bin/livefanout" -url "http://$addr" -token bench -clients "$clients" -batches 40 -every 500ms -pid "$pid" -mem "$mem"
