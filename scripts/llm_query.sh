#!/usr/bin/env bash
# Ask the cluster one question through ARTHUR Panel; print only the answer.
#
#   ARTHUR_TOKEN=arthur_... scripts/llm_query.sh "Why is the sky blue?"
#   git diff | ARTHUR_TOKEN=arthur_... scripts/llm_query.sh        # the prompt from stdin
#
# Replaces the cluster guide's version, which pasted "$1" into a JSON string: a quote or a
# backslash in the prompt broke the JSON, and a crafted prompt could add fields of its own.
# Here the prompt never passes through a string the shell or curl parses: python3 reads it
# from its own argv (or stdin) and json.dumps() escapes it.
#
# ARTHUR_URL (default http://127.0.0.1:8000), ARTHUR_TOKEN (python manage.py issue_token <user>),
# ARTHUR_MODEL (default deepseek-v3-4bit; any catalogue name, or "auto").
set -euo pipefail

: "${ARTHUR_TOKEN:?set ARTHUR_TOKEN to a token from: python manage.py issue_token <user>}"
url="${ARTHUR_URL:-http://127.0.0.1:8000}/v1/chat/completions"
model="${ARTHUR_MODEL:-deepseek-v3-4bit}"

python3 -c 'import json, sys
model, args = sys.argv[1], sys.argv[2:]
prompt = args[0] if args else sys.stdin.read()
json.dump({"model": model, "messages": [{"role": "user", "content": prompt}]}, sys.stdout)' \
  "$model" "$@" |
  # The header comes from a file descriptor so the token stays out of `ps` output.
  curl --silent --show-error -X POST "$url" \
    -H @<(printf 'Authorization: Bearer %s\n' "$ARTHUR_TOKEN") \
    -H "Content-Type: application/json" --data-binary @- |
  python3 -c 'import json, sys
try:
    reply = json.load(sys.stdin)
except ValueError:
    sys.exit("llm_query: the panel sent no JSON answer")
if "choices" not in reply:
    error = reply.get("error") or {}
    sys.exit("llm_query: " + str(error.get("message") or reply))
print(reply["choices"][0]["message"]["content"])'
