"""The book's own helpers: figures, the wall explorer and the exercises' feedback.

- :mod:`.figures` -- images, heatmaps with the dead zone shaded, method grids, colour bars;
- :mod:`.frames` / :mod:`.explorer` -- move the wall: the computation, then its drawing and widgets;
- :mod:`.exercises` -- every ``check_*`` of the chapters' exercises and :func:`~.exercises.verdict`;
- :mod:`.answers` -- reading a student's sympy answer and the symbols an exercise gives.
"""
