#!/usr/bin/env sh
# Send one croct leadGenerated event to a running leadrelay (./run serve), as the snippet would.
# Usage: examples/collect.sh [base-url]
BASE=${1:-http://127.0.0.1:8000}
ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
curl -sS -X POST "$BASE/lr/e" -H 'Content-Type: text/plain' --data-binary @- <<JSON
{"events": [{"id": "$ID", "dialect": "croct", "type": "leadGenerated",
  "payload": {"leadId": "L-1", "currency": "USD", "value": 100,
              "lead": {"firstName": "Carol", "email": "carol@example.com"}}}]}
JSON
echo
