"""camwalls_lib.book.typeset: sympy results as LaTeX, long sums broken over lines."""

import pytest
import sympy as sp

from camwalls_lib.book.typeset import latex_lines

a, b, c, d = sp.symbols("a b c d")


def test_a_long_sum_is_broken_into_lines_of_the_given_length():
    tex = latex_lines(r"\alpha", a + b - c + d, terms_per_line=2)
    lines = tex.removeprefix(r"\begin{aligned}").removesuffix(r"\end{aligned}").split(" \\\\\n")
    assert len(lines) == 2
    assert lines[0].startswith(r"\alpha &= ")
    assert "+ -" not in tex
    terms = sp.Add.make_args(a + b - c + d)
    assert all(sp.latex(-t if t.could_extract_minus_sign() else t) in tex for t in terms)


def test_a_short_expression_stays_on_one_line():
    tex = latex_lines("y", a * b)
    assert tex == r"\begin{aligned}y &= a b\end{aligned}"


def test_zero_and_matrices_are_typeset_whole():
    assert latex_lines("d", 0).endswith("&= 0\\end{aligned}")
    assert r"\begin{matrix}" in latex_lines("B", sp.Matrix([[a, b]]))


def test_bad_terms_per_line_is_an_error():
    with pytest.raises(ValueError, match="terms_per_line"):
        latex_lines("y", a, terms_per_line=0)


def test_short_code_names_typeset_as_the_math_they_stand_for():
    norm_m, V = sp.symbols("norm_m V", positive=True)
    tex = latex_lines("E", V * norm_m**2 / 2)
    assert r"\lVert\mathbf m\rVert_2" in tex and "norm" not in tex
