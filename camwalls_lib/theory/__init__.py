"""The theory: the paper's statements, checked against what the code computes.

- :mod:`.symbolic` -- the algebra with sympy: CAM, GradCAM, Proposition 2, the lemmas of Theorem 3;
- :mod:`.prop2` -- Proposition 2 numerically: GradCAM's coefficients of the toy [CNN] in closed form;
- :mod:`.theorem3` -- Theorem 3 numerically: the bound, the exact expectation, Monte Carlo;
- :mod:`.vit` -- why GradCAM paints a walled vision transformer's patches.
"""
