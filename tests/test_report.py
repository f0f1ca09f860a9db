"""The book's number formatting: rounded, μ beside its constant-map baseline, models as tables."""

import pytest
import torch

from camwalls_lib.book.report import architecture_table, mu_text, num, pct
from camwalls_lib.networks.models import ToyCNN


def test_num_rounds_to_significant_digits():
    assert num(69.54438018798828) == "69.5"
    assert num(0.45730751752853394) == "0.457"
    assert num(15360) == "15,360"
    assert num(5.421010862427522e-20) == "5.42e-20"
    assert num(torch.tensor(0.5)) == "0.500"
    assert num(0) == "0"


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
