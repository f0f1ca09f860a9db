"""The book's number formatting: rounded, μ beside its constant-map baseline, models as tables."""

import pytest
import torch

from camwalls_lib.book.report import architecture_table, mu_text, num, pct, sci
from camwalls_lib.networks.models import ToyCNN


def test_num_rounds_to_significant_digits():
    assert num(69.54438018798828) == "69.5"
    assert num(0.45730751752853394) == "0.457"
    assert num(15360) == "15,360"
    assert num(5.421010862427522e-20) == "5.42 × 10⁻²⁰"
    assert num(2e15, 2) == "2.0 × 10¹⁵"
    assert num(torch.tensor(0.5)) == "0.500"
    assert num(0) == "0"


def test_sci_writes_powers_of_ten_as_people_do():
    assert sci(1.12e-08) == "1.1 × 10⁻⁸"
    assert sci(1.12e-08, 3) == "1.12 × 10⁻⁸"
    assert sci(1e-6, 1) == "10⁻⁶"
    assert sci(1e-6) == "1.0 × 10⁻⁶"
    assert sci(-0.0454, 3) == "−4.54 × 10⁻²"
    assert sci(9.96e-7) == "1.0 × 10⁻⁶"          # the mantissa rounds up into the next power
    assert sci(123456.0, 3) == "1.23 × 10⁵"
    assert sci(torch.tensor(2.5e-10)) == "2.5 × 10⁻¹⁰"
    assert sci(0) == "0"
    assert "e" not in sci(5.42e-20) + sci(1e300)


@pytest.mark.parametrize("bad, error, match", [
    ("1e-6", TypeError, "x must"), (float("inf"), ValueError, "x must"),
    (torch.ones(3), ValueError, "x must"), (None, TypeError, "x must"),
    (False, TypeError, "x must")])
def test_sci_refuses_what_is_not_one_real_number(bad, error, match):
    with pytest.raises(error, match=match):
        sci(bad)


@pytest.mark.parametrize("digits", [0, -1, 1.5, True, "2"])
def test_sci_refuses_bad_digits(digits):
    with pytest.raises(ValueError, match="digits"):
        sci(1e-8, digits)


def test_pct_and_mu_text():
    assert pct(0.6693) == "66.9 %"
    zone = torch.zeros(28, 28, dtype=torch.bool)
    zone[16:] = True
    assert mu_text(0.669, zone) == "μ = 0.67 (a constant map: 0.65)"
    assert mu_text(0.3, 0.49) == "μ = 0.30 (a constant map: 0.49)"


@pytest.mark.parametrize("bad, error", [("0.5", TypeError), (float("nan"), ValueError),
                                        (torch.ones(2), ValueError), (True, TypeError)])
def test_num_refuses_what_is_not_one_real_number(bad, error):
    with pytest.raises(error, match="x must"):
        num(bad)


def test_mu_text_refuses_percentages_and_bad_digits():
    with pytest.raises(ValueError, match="Divide by 100"):
        mu_text(66.9, 0.65)
    with pytest.raises(ValueError, match="digits"):
        num(1.0, digits=0)
    with pytest.raises(ValueError, match="digits"):
        pct(0.5, digits=-1)


def test_architecture_table_lists_layers_with_shapes():
    table = architecture_table(ToyCNN(), (1, 28, 28))
    lines = table.splitlines()
    assert lines[0].startswith("| layer | kind |")
    assert any("Conv2d" in line for line in lines)
    assert "tensor(" not in table
    with pytest.raises(ValueError, match="input_shape"):
        architecture_table(ToyCNN(), (1, -28, 28))
    with pytest.raises(TypeError, match="Module"):
        architecture_table("model", (1, 28, 28))


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def _count(cell: str) -> int:
    return int(cell.strip("*").replace(",", ""))


def _walled_models():
    from camwalls_lib.experiments import mnist_walls
    from camwalls_lib.networks.models import masked_vgg16
    from camwalls_lib.walls import Wall
    return {"toy": (ToyCNN(V=64, wall=Wall.bottom(6), tau=1.0), (1, 28, 28)),
            "deep MNIST": (mnist_walls.make_model("deep"), (1, 28, 28)),
            "VGG16 at width 1/16": (masked_vgg16(num_classes=10, width=1 / 16), (3, 224, 224))}


@pytest.mark.parametrize("name", ["toy", "deep MNIST", "VGG16 at width 1/16"])
def test_architecture_table_shows_the_walled_layer_and_its_rows_sum_to_the_total(name):
    model, shape = _walled_models()[name]
    rows = _rows(architecture_table(model, shape))
    *layers, total = rows
    assert total[0] == "**total**"
    assert sum(_count(r[3]) for r in layers) == _count(total[3]) == \
        sum(p.numel() for p in model.parameters())
    assert not any("FeatureWall" in r[1] for r in rows)
    walled = [r for r in layers if r[1].startswith("WalledLinear (")]
    assert len(walled) == 1 and "rows walled" in walled[0][1]
    layer = model.classifier[1]
    assert walled[0][2] == f"{layer.out_features:,}"
    assert _count(walled[0][3]) == layer.weight.numel() + (layer.bias.numel() if layer.bias is not None else 0)
    assert _count(walled[0][4]) == _count(total[4]) == layer.walled_count()


def test_architecture_table_of_the_full_vgg16_matches_the_paper_counts():
    from camwalls_lib.networks.models import masked_vgg16
    with torch.device("meta"):
        full = masked_vgg16()
    rows = _rows(architecture_table(full, (3, 224, 224)))
    assert rows[-1] == ["**total**", "", "", "**239,938,088**", "**132,120,576**"]
    walled = next(r for r in rows if r[0] == "classifier.1")
    assert walled[1] == "WalledLinear (lowest 9 of 14 rows walled)"
    assert walled[2] == "4,096"


def test_architecture_table_counts_parameters_outside_its_layers():
    class WithToken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.token = torch.nn.Parameter(torch.zeros(3))
            self.fc = torch.nn.Linear(4, 2)
            self.unused = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) + self.token[:2]

    model = WithToken()
    rows = _rows(architecture_table(model, (4,)))
    assert [r[0] for r in rows] == ["fc", "(elsewhere)", "**total**"]
    assert _count(rows[1][3]) == 3 + 6 and _count(rows[-1][3]) == 19
    assert len(rows[0]) == 4                     # no wall, no wall column
