#!/usr/bin/env bash
# One command for a new machine: install the Debian packages, build socle (Release),
# start socled on the embedded default model (models/socle-mini) on a private ipc://
# endpoint, run a few tasks with the `socle` CLI, and stop the daemon.
#   bash tools/quickstart.sh            # everything
#   SOCLE_SKIP_APT=1 bash tools/quickstart.sh   # packages already installed
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SOCLE_SKIP_APT:-}" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $(cat .ci/packages.txt) >/dev/null
fi
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSOCLE_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" >/dev/null

MODEL=models/socle-mini
SOCK="$(mktemp -d)/socle.sock"
EP="ipc://$SOCK"
build-release/daemon/socled --model "$MODEL" --adapters "$MODEL/adapters" --endpoint "$EP" \
    --log-level warn &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true; rm -rf "$(dirname "$SOCK")"' EXIT
export SOCLE_ENDPOINT="$EP"
S=build-release/clients/socle
# Wait until the daemon answers (model load takes well under a second).
for _ in $(seq 50); do $S --timeout 200 --retries 1 info >/dev/null 2>&1 && break; sleep 0.1; done

set -x
$S info
$S ner --aggregation simple "Emmanuel Macron a visité Lyon avec Angela Merkel."
$S classify --adapter sentiment "Une série drôle et touchante, je la recommande."
$S classify --adapter topic "Stocks fell sharply on Wall Street after the central bank raised rates."
printf 'Qui a visité Lyon ?\tEmmanuel Macron a visité Lyon avec Angela Merkel en 2019.\n' | $S qa
$S tokenize "Le tokenizer compte les tokens."
