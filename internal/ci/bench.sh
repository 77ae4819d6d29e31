#!/usr/bin/env bash
# The project's benchmark command: every benchmark whose figures docs/benchmarks.md quotes.
# Run it on an otherwise idle machine; it takes a few minutes. Extra arguments go to every
# `go test` (for example -count 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
run() { echo "+ go test $*"; go test "$@" 2>&1 | grep -E '^(Benchmark|--- |ok|FAIL|PASS)|records|scans' || true; }

# Ledger (issue 2): durable appends, proofs and replay at 1M records, bytes per record, checkpoint latency.
run ./ledger -run '^$' -bench 'AppendWaiting|AppendBulk' -benchtime 3x "$@"
run ./ledger -run '^$' -bench 'InclusionProof|DiskPerRecord|Replay|CheckpointLatency' "$@"
# Lifecycle (issue 3): signed events appended durably, projection look-ups.
run ./ledger/cert -run '^$' -bench 'Submit|LogAppend' -benchtime 40000x -submitters 64 "$@"
run ./ledger/cert -run '^$' -bench 'BatchInfo|EnterpriseByUSCC|Replay' -benchtime 2s "$@"
# Labels (issue 4): tokens, codes, sheets, a million-unit batch.
run ./label -run '^$' -bench 'Sign|ParseVerify|GoQRCode|PNGLabel|SVGLabel|Sheet' -benchtime 2s "$@"
run ./label -run '^$' -bench IssueCSV1M -benchtime 1x "$@"
# Verification service (issue 5): distinct genuine scans over HTTP on loopback.
run ./verify -run TestLoad -v -verify.load=10s -verify.load.path=json -verify.load.conns=64 "$@"
run ./verify -run TestLoad -v -verify.load=10s -verify.load.path=html -verify.load.conns=64 "$@"
