"""Docs that cannot drift: every relative link and anchor in README.md and docs/ resolves, and the figures README
and the model card quote are those of the served models' metadata (models/*.json) and the bench results they cite
(bench/results/*.json).

Figures are compared as printed (71.1 %, 0.017): a new model or bench run that changes a number fails here until
the docs say the new number."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.conftest import ROOT
from web.server import heading_slug as slug

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
MD = MarkdownIt("commonmark").enable("table")
RESULTS = ROOT / "bench" / "results"


def anchors(path: Path) -> set[str]:
    """Every anchor a link may name in ``path``: its headings (GitHub's slugs, -1, -2 … for repeats) and ids."""
    tokens, seen, found = MD.parse(path.read_text(encoding="utf-8")), {}, set()
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            text = "".join(c.content for c in tokens[i + 1].children if c.type in ("text", "code_inline"))
            base = slug(text)
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    found.update(re.findall(r"""<a\s+(?:id|name)=["']([^"']+)["']""", path.read_text(encoding="utf-8")))
    return found


def links(path: Path) -> list[str]:
    """Every link target in ``path`` outside code: Markdown links and images, and HTML src/href."""
    out = []

    def walk(tokens):
        for tok in tokens:
            if tok.type in ("link_open", "image"):
                out.append(tok.attrs.get("href") or tok.attrs.get("src"))
            if tok.type in ("html_inline", "html_block"):
                out.extend(re.findall(r"""(?:src|href)=["']([^"']+)["']""", tok.content))
            if tok.children:
                walk(tok.children)

    walk(MD.parse(path.read_text(encoding="utf-8")))
    return out


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.\-]*:", target, re.I):  # http:, https:, mailto: … : not checked offline
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no file {_shown(dest)})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {_shown(dest)})")
    return broken


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


def test_the_link_check_catches_a_broken_file_and_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Set-up (`python -m x`)\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#set-up-python--m-x) [gone](missing.md) [bad](other.md#setup) [self](#nowhere)\n"
                    "```\n[in code](ignored.md)\n```\n<img src=\"nope.png\">\n")
    assert [b.split(" (")[0] for b in broken_links(page)] == ["missing.md", "other.md#setup", "#nowhere", "nope.png"]


# -- figures ---------------------------------------------------------------------------------------------------------
def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def f3(x: float) -> str:
    return f"{x:.3f}"


def comparison() -> dict:
    """``python -m bench.compare_models``: both served models on the same data, one run (also in the models' JSON)."""
    return json.loads((RESULTS / "compare_models.json").read_text())["models"]


def upgrade(fast: bool) -> dict:
    """``python -m bench.model_upgrade``: the served model ("after") on a 1 MP photo and per photo source — for the
    accurate model the run of its own upgrade (1.7.0: ``--issue 37``, ``model_upgrade_photos.json``), for the fast
    one ``--fast``."""
    name = "model_upgrade_fast" if fast else "model_upgrade_photos"
    return json.loads((RESULTS / f"{name}.json").read_text())["rows"]["after"]


def readme_rows() -> dict[str, list[str]]:
    """README's "How good is it" table: first cell → the other cells."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How good is it", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines() if line.startswith("|")]
    return {r[0]: r[1:] for r in rows[2:]}


def numbers(cell: str) -> list[str]:
    return re.findall(r"\d+\.\d+", cell)


def row(rows: dict[str, list[str]], start: str) -> list[str]:
    (cells,) = [cells for first, cells in rows.items() if first.startswith(start)]
    return cells


def expected_readme_figures() -> dict[str, tuple[list[str], list[str]]]:
    """Row start → (accurate cell's figures, fast cell's figures), from the bench results the row cites."""
    m = comparison()
    up = {"accurate": upgrade(False), "fast": upgrade(True)}

    def ece(name):
        u = up[name]["real_by_dataset"]
        return [f3(up[name]["privatetest_ece"]), f3(up[name]["real_ece"]), f3(u["frl_london"]["ece"]),
                f3(u["muxspace"]["ece"])]

    return {
        "FER-2013 PrivateTest": tuple([pct(m[n]["privatetest_accuracy"]), f3(m[n]["privatetest_macro_f1"])]
                                      for n in ("accurate", "fast")),
        "Real photos": tuple([pct(m[n]["real_accuracy"])] for n in ("accurate", "fast")),
        "FER+ majority label": tuple([pct(m[n]["ferplus_privatetest_accuracy"])] for n in ("accurate", "fast")),
        "Calibration error (ECE)": (ece("accurate"), ece("fast")),
        "Per photo, whole pipeline": tuple([f"{up[n]['photo_1mp_ms']:.1f}"] for n in ("accurate", "fast")),
        "Classifier alone": tuple([f"{m[n]['ms_per_face_batch1']:.1f}"] for n in ("accurate", "fast")),
    }


def test_the_readme_table_quotes_the_bench_results():
    rows = readme_rows()
    for start, (accurate, fast) in expected_readme_figures().items():
        cells = row(rows, start)
        assert numbers(cells[0])[:len(accurate)] == accurate, f"README '{start}…', accurate: {cells[0]}"
        assert numbers(cells[1])[:len(fast)] == fast, f"README '{start}…', fast: {cells[1]}"


def test_the_readme_text_quotes_the_same_figures():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = comparison()["accurate"]
    limits = text.split("## Limitations", 1)[1].split("\n## ", 1)[0]
    quoted = re.search(r"Real photos are harder than FER-2013's crops: ([\d.]+) % .* against ([\d.]+) %", limits)
    assert quoted and quoted.groups() == (pct(m["real_accuracy"]), pct(m["privatetest_accuracy"])), quoted
    diagram = text.split("## How it works", 1)[1].split("```", 2)[1]
    meta = json.loads((ROOT / "models" / "emotion_classifier.json").read_text())
    members = re.findall(r"efficientnet_lite(\d)@(\d+)", meta["architecture"])
    assert f"ensemble of {len(members)}" in diagram
    for lite, size in members:
        assert f"Lite{lite} {size} px" in diagram, (lite, size)


def test_each_model_reports_the_calibration_in_force():
    """/info shows the models' JSON: its validation ECE is the one after the last recalibration, not before."""
    for name in ("emotion_classifier", "emotion_classifier_fast"):
        meta = json.loads((ROOT / "models" / f"{name}.json").read_text())
        if "ece" in meta.get("validation", {}) and "calibration" in meta:
            assert meta["validation"]["ece"] == meta["calibration"]["ece_after"], name


def card_rows() -> dict[str, list[str]]:
    """The model card's tables: first cell → the other cells (the first table holding a row of that name)."""
    text = (ROOT / "docs" / "MODEL_CARD.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def test_the_model_card_quotes_the_served_models():
    rows, m = card_rows(), comparison()
    both = ("accurate", "fast")

    def each(figure) -> tuple[list[str], list[str]]:
        return tuple(figure(m[n]) for n in both)

    expected = {
        "Model version": each(lambda x: [x["model_version"]]),
        "File size (MB)": each(lambda x: [f"{x['size_mb']:.1f}"]),
        "FER-2013 PrivateTest accuracy": each(lambda x: [pct(x["privatetest_accuracy"])]),
        "FER-2013 PrivateTest macro-F1": each(lambda x: [f3(x["privatetest_macro_f1"])]),
        "FER+ PrivateTest accuracy": each(lambda x: [pct(x["ferplus_privatetest_accuracy"])]),
        "Real photos (dev set) accuracy": each(lambda x: [pct(x["real_accuracy"])]),
        "frl_london accuracy": each(lambda x: [pct(x["real_by_dataset"]["frl_london"]["accuracy"])]),
        "muxspace accuracy": each(lambda x: [pct(x["real_by_dataset"]["muxspace"]["accuracy"])]),
        "ECE PrivateTest": each(lambda x: [f3(x["privatetest_ece"])]),
        "ECE real photos": each(lambda x: [f3(x["real_ece"])]),
        "Classifier ms per face": each(lambda x: [f"{x['ms_per_face_batch1']:.1f}"]),
    }
    for c in m["accurate"]["privatetest_recall"]:
        expected[f"recall {c}"] = each(lambda x, c=c: [f"{x['privatetest_recall'][c]:.2f}", f"{x['real_recall'][c]:.2f}"])
    temperatures = [json.loads((ROOT / "models" / f"{f}.json").read_text())["temperature_by_class"]
                    for f in ("emotion_classifier", "emotion_classifier_fast")]
    for n, t in zip(both, temperatures):
        figures = [f"{v:.2f}" for v in t.values()]
        expected[f"temperature, {n}"] = (figures, figures)  # one row per model: its seven cells
    for name, (accurate, fast) in expected.items():
        assert name in rows, f"model card: no row '{name}'"
        if name.startswith("temperature"):
            assert [c for cell in rows[name] for c in re.findall(r"\d+\.\d+", cell)] == accurate, name
            continue
        got = rows[name]
        found = [re.findall(r"\d+\.\d+(?:\.\d+)?(?:-[\w-]+)?", c) for c in got[:2]]
        assert found[0][:len(accurate)] == accurate and found[1][:len(fast)] == fast, f"model card '{name}': {got}"
    assert len((ROOT / "docs" / "MODEL_CARD.md").read_text().splitlines()) <= 250


def test_the_documented_result_schema_has_every_field_an_answer_carries():
    from emotion.result import FaceResult, PredictionResult

    face = FaceResult((1, 2, 3, 4), 0.9, {"happy": 0.9, "sad": 0.1}, False)
    answer = PredictionResult([face], 1.0, (10, 10), {"decode": 1.0}).to_dict()
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    documented = json.loads(text.split("## Result schema", 1)[1].split("```json", 1)[1].split("```", 1)[0])
    assert list(documented) == list(answer)
    assert set(documented["faces"][0]) == set(answer["faces"][0])


def test_the_card_and_history_pages_render_cleanly():
    from web.server import DOCS, _markdown_page

    card = _markdown_page(DOCS / "MODEL_CARD.md", "Model card")
    assert "license:" not in card and "<hr" not in card.split("<h1", 1)[0]  # the YAML header is not shown
    assert '<h2 id="data">Data</h2>' in card and 'href="#data"' in card
    assert 'href="/model-history"' in card and 'href="MODEL_HISTORY.md' not in card
    assert re.findall(r'href="([^"#]+)', card) == [href for href in re.findall(r'href="([^"#]+)', card)
                                                   if href.startswith(("/model-", "/guide/", "http"))]
    history = _markdown_page(DOCS / "MODEL_HISTORY.md", "Model history")
    assert 'id="version-160-a-prior-for-surprise-chosen-on-the-photos"' in history
