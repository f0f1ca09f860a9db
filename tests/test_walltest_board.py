"""The shipped scoreboard and rigor table: loading, rendering, merging, and (slow) a sample
recomputed from scratch must match the shipped numbers."""

import json

import pytest

from camwalls_lib import validate
from camwalls_lib.walltest import board, predictions, rigor, standard
from camwalls_lib.walltest.stats import COLUMNS


def test_shipped_scoreboard_is_complete_and_consistent():
    shipped = board.load_board()
    rows = shipped["rows"]
    assert shipped["version"] == board.VERSION
    assert set(shipped["networks"]) <= set(standard.NETWORKS)
    for r in rows:
        assert {"method", "library", "network", "verdict", "baseline_mu", "baseline_mass",
                "library_version", "predicted"} <= set(r)
        if r["verdict"] == "exactly zero":
            assert r["mu_mean"] == r["mu_lo"] == r["mu_hi"] == r["mass_hi"] == 0.0
        elif r["verdict"] == "leaks":
            assert 0 <= r["mu_lo"] <= r["mu_mean"] <= r["mu_hi"] <= 1 and r["mu_worst"] > 0
        elif r["verdict"] == "n/a":
            assert r["error"]
    assert (board.BOARD.with_suffix(".csv")).read_text().splitlines()[0].startswith("network,")


def test_to_html_is_sortable_and_shows_baselines():
    rows = board.load_board()["rows"][:5]
    page = board.to_html(rows)
    assert page.count("<tr>") == 1 + len(rows) and "cwSort" in page and "constant map μ" in page


def test_load_board_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="recompute"):
        board.load_board(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(validate.CorruptFile, match="not valid JSON"):
        board.load_board(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({"version": 0, "rows": []}))
    with pytest.raises(validate.CorruptFile, match="version"):
        board.load_board(tmp_path / "old.json")
    with pytest.raises(FileNotFoundError, match="rows-"):
        board.merge(tmp_path)
    with pytest.raises(ValueError, match="Unknown library"):
        board.explainers_of("lime")


def test_merge_adds_predictions(tmp_path):
    rows = [{"network": "toy-cnn", "method": "HiResCAM", "library": "camwalls",
             "verdict": "exactly zero"}, {"network": "toy-cnn", "method": "GradCAM",
                                          "library": "camwalls", "verdict": "exactly zero"}]
    (tmp_path / "rows-toy-cnn.json").write_text(json.dumps(
        {"network": "toy-cnn", "n_images": 2, "versions": {}, "rows": rows}))
    merged = json.loads(board.merge(tmp_path).read_text())
    assert [r["predicted"] for r in merged["rows"]] == ["passes", "leaks"]
    assert merged["networks"]["toy-cnn"]["straddling"] == 0
    wrong = predictions.refuted(merged["rows"], {"toy-cnn": 0})
    assert [r["method"] for r in wrong] == ["GradCAM"]
    assert (tmp_path / "scoreboard.csv").read_text().startswith("network,method")


def test_shipped_rigor_table():
    rows = rigor.load_rigor()["rows"]
    assert {r["state"] for r in rows} == {"trained", "init"}
    assert len({r["seed"] for r in rows if r["state"] == "trained"}) >= 3
    hires = [r for r in rows if r["method"] == "HiResCAM" and r["network"] == "resnet-head"]
    assert hires and all(r["verdict"] == "exactly zero" for r in hires)


@pytest.mark.slow
def test_a_sample_of_the_scoreboard_recomputes():
    shipped = board.load_board()
    sample = {"camwalls": ["GradCAM", "HiResCAM"], "captum": ["Saliency"]}
    network = "toy-cnn"
    n = shipped["networks"][network]["n_images"]
    again = board.compute_network(network, n, libraries=tuple(sample), methods=sample)
    old = {(r["library"], r["method"]): r for r in shipped["rows"] if r["network"] == network}
    for r in again:
        o = old[(r["library"], r["method"])]
        assert r["verdict"] == o["verdict"]
        for key in COLUMNS[6:15]:
            assert r[key] == pytest.approx(o[key], abs=1e-6), (r["method"], key)


@pytest.mark.slow
def test_a_sample_of_the_rigor_table_recomputes():
    shipped = {(r["state"], r["seed"], r["wall_rows"], r["method"]): r
               for r in rigor.load_rigor()["rows"] if r["network"] == "resnet-head"}
    n = rigor.load_rigor()["n_images"]
    again = rigor.compute_rigor(n, variants=("head",), only=[("init", 1, 5)])
    for r in again:
        assert r["mu_mean"] == pytest.approx(shipped[("init", 1, 5, r["method"])]["mu_mean"],
                                             abs=1e-6)
