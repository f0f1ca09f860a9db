"""The wall-test benchmark: standard set, statistics, the command and the pytest helper."""

import csv
import io
import json
import sys

import numpy as np
import pytest
import torch

from camwalls_lib import validate
from camwalls_lib.errors import BadType, BadValue, CorruptFile
from camwalls_lib.walltest import assert_wall_holds, run, standard
from camwalls_lib.walltest.__main__ import main
from camwalls_lib.walltest.run import as_explainers, load_spec
from camwalls_lib.walltest.stats import COLUMNS, bootstrap_ci


def grad_x_input(model, x, target):
    x = x.clone().requires_grad_(True)
    model(x).gather(1, target[:, None]).sum().backward()
    return (x.grad * x).abs().sum(1)


def blurred(model, x, target):
    return torch.nn.functional.avg_pool2d(grad_x_input(model, x, target)[:, None], 5, 1, 2)[:, 0]


def broken(model, x, target):
    raise RuntimeError("no maps today")


BOTH = {"gxi": grad_x_input, "blur": blurred}
NOT_CALLABLE = 3


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    monkeypatch.setitem(sys.modules, "walltest_spec", sys.modules[__name__])


def test_standard_cases_have_dead_zones_and_baselines():
    case = standard.load("toy-cnn", 4)
    assert case.x.shape == (4, 1, 28, 28) and case.zone.any()
    assert case.baseline_mu == pytest.approx(float(case.zone.float().mean()) ** 0.5)
    with torch.no_grad():   # the walled network ignores what the stacked digits put behind the wall
        cut = case.x.clone()
        cut[:, :, case.zone] = 0
        assert torch.equal(case.model(case.x), case.model(cut))


def test_standard_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown network"):
        standard.load("alexnet")
    with pytest.raises(ValueError, match="16 images"):
        standard.load("toy-cnn", 17)
    with pytest.raises(ValueError):
        standard.load("toy-cnn", 0)
    with pytest.raises(FileNotFoundError, match="inputs"):
        standard.read_inputs(tmp_path / "none.npz")
    with pytest.raises(BadValue, match="16 images"):
        standard.check_n(17)
    with pytest.raises(BadType, match=r"\bn\b"):
        standard.check_n(2.0)
    assert standard.check_n(16) == 16


def test_network_names_are_read_in_any_case():
    assert standard.load("TOY-CNN", 1).network == "toy-cnn"


@pytest.mark.parametrize("write", [
    lambda p: np.savez(p, mnist_a=np.array([None], dtype=object)),     # needs pickle
    lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"),
    lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p),
    lambda p: p.write_bytes(b""),
])
def test_unreadable_inputs_are_a_corrupt_file_naming_it(write, tmp_path):
    path = tmp_path / "inputs.npz"
    write(path)
    with pytest.raises(validate.CorruptFile, match="inputs.npz"):
        standard.read_inputs(path)


def test_damaged_inputs_are_refused(tmp_path):
    with np.load(standard.INPUTS) as f:
        arrays = {k: f[k].copy() for k in f.files}
    arrays["mnist_a"][0, 0, 0] ^= 1
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(validate.CorruptFile, match="checksum"):
        standard.read_inputs(tmp_path / "bad.npz")
    del arrays["fashion_y"]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(validate.CorruptFile, match="fashion_y"):
        standard.read_inputs(tmp_path / "short.npz")


def test_bootstrap_ci():
    assert bootstrap_ci(torch.zeros(5)) == (0.0, 0.0, 0.0)
    mean, lo, hi = bootstrap_ci(torch.arange(20.0))
    assert lo < mean == 9.5 < hi and hi - lo < 10
    assert bootstrap_ci(torch.arange(20.0)) == (mean, lo, hi)        # seeded: reproducible
    for bad, match in ((torch.tensor([]), "at least one"), (torch.tensor([1.0, float("nan")]), "NaN")):
        with pytest.raises(ValueError, match=match):
            bootstrap_ci(bad)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(torch.ones(3) * torch.arange(3.0), level=1.5)


def test_run_rows_exact_zero_and_leak():
    rows = run(BOTH, ["toy-cnn"], n=4)
    by = {r["method"]: r for r in rows}
    assert set(COLUMNS) <= set(by["gxi"])
    assert by["gxi"]["verdict"] == "exactly zero"
    assert (by["gxi"]["mu_mean"], by["gxi"]["mu_lo"], by["gxi"]["mu_hi"]) == (0.0, 0.0, 0.0)
    leak = by["blur"]
    assert leak["verdict"] == "leaks" and 0 < leak["mu_lo"] <= leak["mu_mean"] <= leak["mu_hi"]
    assert 0 < leak["mass_mean"] < leak["baseline_mass"]


def test_run_records_errors():
    rows = run({"broken": broken}, ["toy-cnn"], n=2)
    assert rows[0]["verdict"] == "n/a" and "no maps today" in rows[0]["error"]
    with pytest.raises(RuntimeError):
        run({"broken": broken}, ["toy-cnn"], n=2, skip_errors=False)
    with pytest.raises(ValueError, match="networks"):
        run(BOTH, ["alexnet"])


@pytest.mark.parametrize("kwargs, error, says", [
    ({"tolerance": 2.0}, BadValue, "tolerance"), ({"tolerance": -1}, BadValue, "tolerance"),
    ({"tolerance": float("nan")}, BadValue, "tolerance"), ({"tolerance": "0"}, BadType, "tolerance"),
    ({"n": 0}, BadValue, r"\bn\b"), ({"n": 17}, BadValue, "16 images"), ({"n": 2.0}, BadType, r"\bn\b"),
    ({"networks": ["nope"]}, BadValue, "networks"), ({"networks": []}, BadValue, "networks"),
    ({"networks": 3}, BadType, "networks"), ({"skip_errors": "yes"}, BadType, "skip_errors"),
])
def test_run_refuses_bad_arguments_up_front_never_in_rows(kwargs, error, says, monkeypatch):
    """An argument error of the caller is a library error before any network is loaded: never
    a row with verdict n/a, never an AssertionError of the wall."""
    from camwalls_lib.walltest import standard
    monkeypatch.setattr(standard, "load", lambda *a, **k: pytest.fail("loaded a network"))
    good = {"networks": ["toy-cnn"], "n": 2}
    with pytest.raises(error, match=says):
        run(grad_x_input, **{**good, **kwargs})
    with pytest.raises(error, match=says):
        assert_wall_holds(grad_x_input, **{**good, **kwargs}) if "skip_errors" not in kwargs \
            else run(grad_x_input, **{**good, **kwargs})


def test_run_takes_one_network_name_in_any_case():
    rows = run(grad_x_input, "TOY-CNN", n=2)
    assert [r["network"] for r in rows] == ["toy-cnn"]


def test_run_stops_at_an_explainer_that_removes_the_wall():
    """The shipped toy CNN's wall is a non-persistent buffer: an explainer that opens it is
    named (ExplainerMisbehaved), skip_errors or not, and never passes the assertion."""
    from camwalls_lib.errors import ExplainerMisbehaved
    from camwalls_lib.walls import FeatureWall

    def opens_the_wall(model, x, target):
        maps = grad_x_input(model, x, target)
        for m in model.modules():
            if isinstance(m, FeatureWall) and m.visible is not None:
                m.visible.fill_(True)
        return maps
    with pytest.raises(ExplainerMisbehaved, match="opens_the_wall"):
        assert_wall_holds(opens_the_wall, ["toy-cnn"], n=2)


def test_assert_wall_holds():
    rows = assert_wall_holds(grad_x_input, ["toy-cnn"], n=4)
    assert rows[0]["verdict"] == "exactly zero"
    with pytest.raises(AssertionError, match="toy-cnn: blurred -> leaks"):
        assert_wall_holds(blurred, ["toy-cnn"], n=4)
    with pytest.raises(AssertionError, match="RuntimeError"):
        assert_wall_holds(broken, ["toy-cnn"], n=2)


def test_specs():
    assert set(load_spec("walltest_spec:BOTH")) == {"gxi", "blur"}
    assert list(load_spec("walltest_spec:grad_x_input")) == ["grad_x_input"]
    for spec, err in (("walltest_spec", ValueError), ("a:b:c", ValueError), (":x", ValueError),
                      ("no_such_module_xyz:f", ImportError),
                      ("walltest_spec:missing", ValueError),
                      ("walltest_spec:NOT_CALLABLE", TypeError)):
        with pytest.raises(err):
            load_spec(spec)
    with pytest.raises(ValueError, match="empty"):
        as_explainers({})
    with pytest.raises(TypeError, match="not callables"):
        as_explainers({"a": 1})


def test_command_outputs(tmp_path, capsys):
    code = main(["run", "walltest_spec:BOTH", "--networks", "toy-cnn", "--n", "3",
                 "--csv", str(tmp_path / "rows.csv"), "--json", "-"])
    assert code == 1                                     # blur leaks
    rows = json.loads(capsys.readouterr().out)
    assert {r["method"]: r["verdict"] for r in rows} == {"gxi": "exactly zero", "blur": "leaks"}
    table = list(csv.DictReader(io.StringIO((tmp_path / "rows.csv").read_text())))
    assert [r["method"] for r in table] == ["gxi", "blur"] and table[0]["mu_hi"] == "0.0"
    assert main(["run", "walltest_spec:grad_x_input", "--networks", "toy-cnn", "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "exactly zero" in out and "constant map: mu 0.535" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "walltest_spec:BOTH", "--n", "0"], "whole number >= 1"),
    (["run", "walltest_spec:BOTH", "--n", "two"], "whole number >= 1"),
    (["run", "walltest_spec:BOTH", "--n", "99"], "16 images"),
    (["run", "walltest_spec:BOTH", "--tolerance", "-1"], "number in [0, 1)"),
    (["run", "walltest_spec:BOTH", "--tolerance", "nan"], "number in [0, 1)"),
    (["run", "walltest_spec:BOTH", "--tolerance", "x"], "number in [0, 1)"),
    (["run", "walltest_spec:BOTH", "--tolerance", "1.5"], "number in [0, 1)"),
    (["run", "walltest_spec:BOTH", "--csv", "{tmp}"], "is a folder"),
    (["run", "walltest_spec:BOTH", "--json", "{tmp}/no/such/rows.json"], "does not exist"),
    (["board", "--out", "{tmp}/missing"], "create it first"),
    (["rigor", "--out", "{tmp}/missing"], "create it first"),
    (["run", "walltest_spec:BOTH", "--networks", "alexnet"], "unknown network"),
    (["run", "walltest_spec:BOTH", "--networks", ","], "unknown network"),
    (["run", "walltest_spec:BOTH", "--json", "-", "--csv", "-"], "standard output"),
    (["run", "walltest_spec"], "MODULE:ATTRIBUTE"),
    (["run", "no_such_module_xyz:f"], "Cannot import"),
    (["run", "walltest_spec:missing"], "no attribute"),
    (["run", "walltest_spec:NOT_CALLABLE"], "not a callable"),
    (["run"], "spec"),
    (["board"], "--out"),
    (["inputs"], "--out"),
    ([], "command"),
])
def test_command_bad_input(argv, message, capsys, tmp_path):
    """Refused while parsing, before any network is loaded or file written: usage and one
    line on stderr, status 2, no traceback."""
    with pytest.raises(SystemExit) as exit_:
        main([a.format(tmp=tmp_path) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_library_refusal_in_the_command_is_one_line_and_status_2(capsys, monkeypatch):
    """A CamwallsError raised while the command works (here: the standard inputs are damaged)
    is printed as a usage error, not a traceback."""
    from camwalls_lib.walltest import __main__ as cli

    def damaged(*_a, **_k):
        raise CorruptFile("The standard inputs x.npz are damaged (checksum); re-create them.")
    monkeypatch.setattr(cli, "run", damaged)
    with pytest.raises(SystemExit) as exit_:
        main(["run", "walltest_spec:BOTH", "--networks", "toy-cnn", "--n", "2"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "are damaged (checksum)" in err and "Traceback" not in err


