"""Property tests (hypothesis): Wall, dead_zone, mu and stack_pair over random shapes and sizes.

Each property is a statement the book relies on, checked on shapes nobody picked by hand.
"""

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from camwalls_lib.metrics import mu
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.data.photos import stack_pair
from camwalls_lib.walls import Wall, dead_zone

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- Wall

@FAST
@given(h=st.integers(1, 20), w=st.integers(1, 20), data=st.data())
def test_edge_walls_cover_exactly_their_rows_or_columns(h, w, data):
    n = data.draw(st.integers(1, h))
    m = data.draw(st.integers(1, w))
    assert torch.equal(Wall.bottom(n).mask(h, w).all(1), torch.arange(h) >= h - n)
    assert torch.equal(Wall.top(n).mask(h, w).all(1), torch.arange(h) < n)
    assert torch.equal(Wall.left(m).mask(h, w).all(0), torch.arange(w) < m)
    assert torch.equal(Wall.right(m).mask(h, w).all(0), torch.arange(w) >= w - m)
    assert int(Wall.bottom(n).mask(h, w).sum()) == n * w


@FAST
@given(n=st.integers(-50, 0))
def test_edge_walls_refuse_counts_below_one(n):
    for make in (Wall.bottom, Wall.top, Wall.left, Wall.right):
        with pytest.raises(ValueError, match=">= 1"):
            make(n)


@FAST
@given(h=st.integers(1, 12), w=st.integers(1, 12),
       rows=st.tuples(st.none() | st.integers(-14, 14), st.none() | st.integers(-14, 14)),
       cols=st.tuples(st.none() | st.integers(-14, 14), st.none() | st.integers(-14, 14)))
def test_a_wall_is_a_python_slice_or_a_clear_error(h, w, rows, cols):
    """``Wall(rows, cols).mask(h, w)`` marks ``[rows[0]:rows[1], cols[0]:cols[1]]`` when that
    slice is a non-empty in-range rectangle, and refuses it otherwise -- never a silent
    empty or wrapped-around wall."""
    def in_range(span, size):
        start, stop = span
        start = 0 if start is None else start + size if start < 0 else start
        stop = size if stop is None else stop + size if stop < 0 else stop
        return 0 <= start < stop <= size

    wall = Wall(rows=rows, cols=cols)
    if in_range(rows, h) and in_range(cols, w):
        expected = torch.zeros(h, w, dtype=torch.bool)
        expected[slice(*rows), slice(*cols)] = True
        assert torch.equal(wall.mask(h, w), expected) and expected.any()
    else:
        with pytest.raises(ValueError, match="outside the"):
            wall.mask(h, w)


# ----------------------------------------------------------------------------- dead_zone

@st.composite
def toy_models(draw):
    k = draw(st.sampled_from([3, 5]))
    k_pool = draw(st.sampled_from([1, 2]))
    pooled = draw(st.integers(2, 8))
    image_size = pooled * k_pool + k - 1
    n = draw(st.integers(1, pooled))
    torch.manual_seed(draw(st.integers(0, 10)))
    model = ToyCNN(image_size=image_size, V=draw(st.integers(1, 3)), k=k, k_pool=k_pool,
                   wall=Wall.bottom(n), bias=True).eval()
    return model, image_size, pooled, n


@SLOWER
@given(toy_models())
def test_dead_zone_is_every_row_below_the_last_visible_receptive_field(case):
    """One conv (k) + max-pool (k'): visible pooled rows ``0..h'-n-1`` read input rows up to
    ``(h' - n) k' + k - 2``; every row below is dead, whole, and nothing else is. (A wall
    over the whole map, ``n = h'``, leaves nothing visible: every row is dead.)"""
    model, size, pooled, n = case
    zone = dead_zone(model, (1, size, size))
    first_dead = (pooled - n) * model.k_pool + model.k - 1 if n < pooled else 0
    assert torch.equal(zone.all(1), torch.arange(size) >= first_dead)
    assert torch.equal(zone.any(1), zone.all(1))


@SLOWER
@given(toy_models(), st.integers(0, 100))
def test_dead_pixels_change_no_output(case, seed):
    model, size, _, _ = case
    zone = dead_zone(model, (1, size, size))
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, size, size, generator=g)
    noisy = torch.where(zone, torch.rand(x.shape, generator=g), x)
    with torch.no_grad():
        torch.testing.assert_close(model(noisy), model(x), rtol=0, atol=1e-5)


@FAST
@given(size=st.integers(6, 30))
def test_unwalled_model_has_an_empty_dead_zone(size):
    model = ToyCNN(image_size=size, k=3, k_pool=1, V=2, wall=None)
    assert not dead_zone(model, (size, size)).any()


# ----------------------------------------------------------------------------- mu

maps = st.tuples(st.integers(1, 4), st.integers(1, 16), st.integers(1, 16), st.integers(0, 999))


def random_case(n, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, h, w, generator=g), torch.rand(h, w, generator=g) < 0.4


@FAST
@given(maps, st.floats(1e-3, 1e3))
def test_mu_is_a_share_in_unit_interval_and_scale_free(shape, c):
    s, zone = random_case(*shape)
    m = mu(s, zone)
    assert m.shape == (shape[0],) and bool(((m >= 0) & (m <= 1 + 1e-6)).all())
    torch.testing.assert_close(mu(c * s, zone), m, rtol=1e-4, atol=1e-6)


@FAST
@given(maps)
def test_mu_is_zero_outside_and_one_inside_the_dead_zone(shape):
    s, zone = random_case(*shape)
    assert torch.equal(mu(s * ~zone, zone), torch.zeros(shape[0]))
    if zone.any():
        torch.testing.assert_close(mu(s * zone + 1e-3 * zone, zone), torch.ones(shape[0]))


@FAST
@given(maps)
def test_mu_of_a_uniform_map_is_the_root_of_the_zone_share(shape):
    n, h, w, _ = shape
    _, zone = random_case(*shape)
    expected = math.sqrt(float(zone.sum()) / (h * w))
    torch.testing.assert_close(mu(torch.ones(n, h, w), zone), torch.full((n,), expected))


@FAST
@given(maps, st.sampled_from([float("nan"), float("inf")]), st.data())
def test_mu_refuses_non_finite_maps_naming_the_map(shape, bad, data):
    s, zone = random_case(*shape)
    i = data.draw(st.integers(0, shape[0] - 1))
    s[i, data.draw(st.integers(0, shape[1] - 1)), data.draw(st.integers(0, shape[2] - 1))] = bad
    with pytest.raises(ValueError, match=f"map {i} "):
        mu(s, zone)


# ----------------------------------------------------------------------------- stack_pair

@FAST
@given(batch=st.sampled_from([(), (1,), (3,)]), c=st.sampled_from([1, 3]),
       h=st.integers(2, 24), w=st.integers(1, 24), data=st.data())
def test_stack_pair_takes_rows_above_split_from_upper_and_the_rest_from_lower(batch, c, h, w, data):
    split = data.draw(st.integers(1, h - 1))
    upper, lower = torch.rand(*batch, c, h, w), torch.rand(*batch, c, h, w)
    kept = upper.clone(), lower.clone()
    out = stack_pair(upper, lower, split)
    assert out.shape == upper.shape
    assert torch.equal(out[..., :split, :], upper[..., :split, :])
    assert torch.equal(out[..., split:, :], lower[..., split:, :])
    assert torch.equal(upper, kept[0]) and torch.equal(lower, kept[1])     # inputs untouched


@FAST
@given(h=st.integers(2, 24), w=st.integers(5, 24), data=st.data())
def test_stack_pair_refuses_channels_last_images(h, w, data):
    assume(h not in (1, 3, 4))               # else [H, W, C] is also a valid [C, H, W]
    hwc = torch.rand(h, w, data.draw(st.sampled_from([1, 3])))
    with pytest.raises(ValueError, match=r"\[H, W, C\]"):
        stack_pair(hwc, hwc, 1)


# ----------------------------------------------------------------------------- mu at any scale

SCALES = [10.0 ** e for e in range(-30, 31, 3)]


def _naive(share, s64, zone):
    """mu or the mass share of maps already of order 1, in float64: the reference."""
    if share == "mu":
        return s64[:, zone].norm(dim=1) / s64.flatten(1).norm(dim=1)
    return s64[:, zone].sum(1) / s64.flatten(1).sum(1)


@pytest.mark.parametrize("share", ["mu", "mass_share"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("c", SCALES, ids=[f"1e{e}" for e in range(-30, 31, 3)])
def test_mu_and_mass_share_are_the_same_at_every_scale_and_dtype(share, dtype, c):
    """mu(c * Lambda) = mu(Lambda) for c from 1e-30 to 1e30 in float16/32/64: no square or sum
    overflows or underflows. A scaled map the dtype cannot hold (inf) is refused with a
    library error; one whose values the dtype rounds is compared with what it holds."""
    from camwalls_lib.errors import BadValue
    from camwalls_lib.metrics import mass_share
    fn = mu if share == "mu" else mass_share
    g = torch.Generator().manual_seed(0)
    base = torch.rand(3, 12, 12, generator=g, dtype=torch.float64) * 0.5 + 0.5
    base[0, :6] = 0                                        # one map has nothing above row 6
    base[1] = 1.0                                          # a constant map
    zone = torch.zeros(12, 12, dtype=torch.bool)
    zone[8:] = True
    scaled = (base * c).to(dtype)
    if not bool(torch.isfinite(scaled).all()):
        with pytest.raises(BadValue, match="map"):
            fn(scaled, zone)
        return
    got = fn(scaled, zone)
    assert got.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    held = scaled.double() / c                            # what the dtype holds, rescaled
    if not bool((held.flatten(1).amax(1) > 0).all()):      # flushed to 0: a blank map scores 0
        assert bool((got[held.flatten(1).amax(1) == 0] == 0).all())
        return
    tol = {torch.float16: 2e-2, torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(got.double(), _naive(share, held, zone), rtol=tol, atol=tol)
    if share == "mu":
        torch.testing.assert_close(float(got[1]), math.sqrt(4 / 12), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_mu_is_never_zero_for_a_map_with_something_in_the_dead_zone(dtype):
    """However small the dead-zone values are against the rest, mu > 0 (0 means nothing
    there at all); an all-zero map keeps mu = 0."""
    info = torch.finfo(dtype)
    zone = torch.zeros(8, 8, dtype=torch.bool)
    zone[6:] = True
    s = torch.full((8, 8), info.max / 100, dtype=dtype)
    s[zone] = torch.nextafter(torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype))
    assert float(mu(s, zone)) > 0
    tiny = torch.zeros(8, 8, dtype=dtype)
    tiny[zone] = torch.nextafter(torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype))
    assert float(mu(tiny, zone)) == pytest.approx(1.0)
    assert float(mu(torch.zeros(8, 8, dtype=dtype), zone)) == 0.0
