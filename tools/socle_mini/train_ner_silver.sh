#!/bin/sh
# Train socle-mini's shipped `ner` adapter (since 2026-11-27): an MLP head trained with
# socle-train on the frozen socle-mini backbone, on WikiANN train (en + fr) plus whole
# sentences labelled by distant supervision (tools/socle_mini/silver_ner.py: the novels of
# ../shared/data/corpus, gazetteer from WikiANN train, each silver sentence 4 times). Early
# stopping on the first 2,000 WikiANN dev sentences of each language. WikiANN test is never read.
#
#   sh tools/socle_mini/train_ner_silver.sh [BUILD_DIR [WORK_DIR]]
#
# BUILD_DIR (default build-release) must hold a Release socle-train (tools/train). The adapter
# is written to WORK_DIR/ner (default tools/work/ner-silver/ner); install it with
#   cp WORK_DIR/ner/* models/socle-mini/adapters/ner/
#   /usr/bin/python3 tools/socle_mini/finalize.py --bundle models/socle-mini   # reference.json
# Time on the 2-core VM: silver data 1 min, features 70-90 s (2 threads), 6 MLP epochs of
# ~50 s (early stop; the best is epoch 1). Deterministic: fixed seeds, same bytes each run.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build-release}
WORK=${2:-tools/work/ner-silver}
mkdir -p "$WORK"
/usr/bin/python3 tools/socle_mini/silver_ner.py --out "$WORK" --sources novels --repeat 4
"$BUILD/tools/train/socle-train" --model models/socle-mini --task ner --format conll \
    --train "$WORK/train_wikiann_silver.conll" --dev "$WORK/dev_wikiann.conll" \
    --labels O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC --head mlp --epochs 30 --patience 5 \
    --seed 42 --threads 2 --feature-cache "$WORK/features.f32" --out "$WORK/ner" --name ner
