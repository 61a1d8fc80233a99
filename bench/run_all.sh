#!/usr/bin/env bash
# Re-run every benchmark and keep its printed tables under bench/results/ (the numbers the README quotes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p bench/results
$PY -m bench.latency --runs 50            2>/dev/null | tee bench/results/latency.md
$PY -m bench.webcam --frames 300          2>/dev/null | tee bench/results/webcam.md
$PY -m bench.load --clients 16 --requests 2000 2>/dev/null | tee bench/results/load.md
$PY -m bench.compare_fer --data ../shared/fer2013 2>/dev/null | tee bench/results/compare_fer.md
$PY -m bench.real_photos --data ../shared/expressions_dev 2>/dev/null | tee bench/results/real_photos.md
$PY -m bench.compare_models --data ../shared/fer2013 --photos ../shared/expressions_dev 2>/dev/null | tee bench/results/compare_models.md
$PY -m bench.bulk --photos 150 --workers 1 2 --ray 2>/dev/null | tee bench/results/bulk.md
$PY -m bench.video --runs 2                2>/dev/null | tee bench/results/video.md
$PY -m bench.explain --data ../shared/fer2013 --n 100 --stride 12 8 2>/dev/null | tee bench/results/explain.md
$PY -m bench.attack --before 7576c52       2>/dev/null | tee bench/results/attack.md   # 7576c52: the last commit before the guard
$PY -m bench.soak --requests 10000        2>/dev/null | tee bench/results/soak.md
# The Space's capacity behind nginx and the page audit (Chromium from Debian); add `--app-dir OLD_CHECKOUT` before
# `--app-dir .` for a before/after in the same run, as bench/results/ holds.
$PY -m bench.capacity --visitors 1,5,10,20,30,40 --webcams 1,2,3,4 --seconds 20 --warmup-s 3 --app-dir . --out bench/results/capacity.md
$PY -m bench.page_audit --app-dir . --parts fold,axe,fast3g --out bench/results/page_audit.md
$PY -m bench.space_check --app-dir . | tee bench/results/space_check.md
