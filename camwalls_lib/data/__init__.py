"""The data: MNIST offline, stacked digits, natural photos and the STACK-MIX composites.

- :mod:`.mnist` -- :func:`~.mnist.load_mnist` (offline first) and :class:`~.mnist.Digits`;
- :mod:`.stacked` -- a second digit pasted into the dead zone (the stacked-digits construction);
- :mod:`.photos` -- real photos bundled with scikit-image and scikit-learn, and their composites;
- :mod:`.stackmix` -- STACK-MIX: two ImageNet-style photos stacked at the paper's split row.
"""
