import pytest
import torch

from camwalls_lib.photos import stack_pair


def test_stack_pair_takes_rows_above_split_from_upper_and_below_from_lower():
    upper, lower = torch.rand(3, 10, 7), torch.rand(3, 10, 7)
    out = stack_pair(upper, lower, 6)
    assert out.shape == upper.shape
    assert torch.equal(out[:, :6], upper[:, :6])
    assert torch.equal(out[:, 6:], lower[:, 6:])
    assert not torch.equal(out, upper)  # a real mix, and the inputs are untouched
    assert torch.equal(upper, upper.clone())


def test_stack_pair_works_on_a_batch_along_rows():
    upper, lower = torch.zeros(2, 1, 5, 4), torch.ones(2, 1, 5, 4)
    out = stack_pair(upper, lower, 2)
    assert out[..., :2, :].sum() == 0 and bool((out[..., 2:, :] == 1).all())


def test_stack_pair_does_not_modify_its_inputs():
    upper, lower = torch.zeros(1, 4, 4), torch.ones(1, 4, 4)
    stack_pair(upper, lower, 1)
    assert upper.sum() == 0 and lower.sum() == 16


@pytest.mark.parametrize("split", [0, 10, -1, 3.5, True])
def test_stack_pair_rejects_a_split_outside_the_image(split):
    with pytest.raises(ValueError, match="split"):
        stack_pair(torch.rand(3, 10, 10), torch.rand(3, 10, 10), split)


def test_stack_pair_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        stack_pair(torch.rand(3, 10, 10), torch.rand(3, 12, 10), 5)
    with pytest.raises(TypeError):
        stack_pair(torch.rand(3, 10, 10), [[0]], 5)
