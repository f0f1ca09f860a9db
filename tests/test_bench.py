"""The benchmark runs (tiny sizes); no timing is asserted, only that it compares equal maps."""

import pytest

pytest.importorskip("pytorch_grad_cam")

from camwalls_lib import bench  # noqa: E402


def test_bench_tiny_runs_and_finds_the_same_maps(capsys):
    code = bench.main(["--tiny", "--images", "1", "--repeats", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "maps: the same" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "| method |" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| GradCAM", "| ScoreCAM", "| AblationCAM",
                                                "| leak_table (7 methods)"]
    assert "AblationCAM path: features/classifier" in out


def test_bench_refuses_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--tiny", "--cases", "gradcan"])
    with pytest.raises(SystemExit):
        bench.main(["--tiny", "--batch-size", "0"])


@pytest.mark.parametrize("flags", [["--width", "nan"], ["--width", "inf"], ["--images", "-1"]])
def test_the_cli_refuses_non_finite_sizes_before_any_work(flags, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--tiny", "--device", "cpu", *flags])
    assert exit_.value.code == 2 and "torch" not in capsys.readouterr().out


def test_the_cli_refuses_a_missing_gpu(monkeypatch):
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        bench.main(["--tiny", "--device", "cuda"])
