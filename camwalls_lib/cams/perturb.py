"""The forward passes of the perturbation methods (ScoreCAM, AblationCAM, Poly-CAM), done once.

A perturbation method scores ``V`` variants of each image: ``y_c`` of the input masked by each
channel (ScoreCAM, Poly-CAM) or of the network with each channel of ``B`` set to zero
(AblationCAM). :func:`target_scores` is the one loop they share
(:func:`~camwalls_lib.cams.masked.masked_scores` for the masked inputs, :func:`ablation_scores`
for the zeroed channels): image by image, ``batch_size``
variants at a time, so memory grows with ``batch_size``, not with ``V``; identical variants
(channels with the same map, e.g. the ones a ReLU left at 0: :func:`first_equal`) run once.

AblationCAM changes nothing *before* the explained layer, so it only needs the network's tail
``B -> logits``. :func:`split_at` finds that tail: the model's own ``features`` /
``classifier`` split when the layer ends ``features``, else the graph cut at the layer
(``torch.fx``), else -- when the model cannot be split -- full forward passes with ``B``
replaced by a hook. Its ``path`` says which one runs; a tail is used only after it reproduced
the model's own scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import torch
import torch.fx
import torch.nn as nn
from tqdm.auto import tqdm

from .. import validate
from ..helpers import eval_mode, hooked

__all__ = ["target_scores", "first_equal", "Split", "split_at", "ablation_scores"]

log = logging.getLogger("camwalls")


def target_scores(N: int, V: int, target: torch.Tensor,
                  chunk_logits: Callable[[int, torch.Tensor], torch.Tensor], batch_size: int,
                  progress: bool = False, softmax: bool = False, desc: str = "passes",
                  same: torch.Tensor | None = None) -> torch.Tensor:
    """``[N, V]``: the target's score in ``chunk_logits(n, v) [len(v), K]``, the logits of
    variants ``v`` (at most ``batch_size`` indices) of image ``n``.

    ``same [N, V]`` (optional): variant ``v`` of image ``n`` is the same input as variant
    ``same[n, v]`` (two identical masks), so only the distinct ones run. ``softmax=True``
    scores the target's probability instead of its logit; ``softmax="both"`` returns both,
    ``[2, N, V]`` (logit, probability), from the same passes. Runs without gradients; call it
    inside :func:`eval_mode`.
    """
    validate.positive_int(batch_size, "batch_size")
    kinds = (False, True) if softmax == "both" else (bool(softmax),)
    scores = torch.zeros(len(kinds), N, V)
    with torch.no_grad():
        for n in tqdm(range(N), disable=not progress, desc=desc):
            first = torch.arange(V) if same is None else same[n].cpu()
            for chunk in first.unique().split(batch_size):
                logits = chunk_logits(n, chunk)
                for k, prob in enumerate(kinds):
                    out = torch.softmax(logits, 1) if prob else logits
                    scores[k, n, chunk] = out[:, target[n]].float().cpu()
            scores[:, n] = scores[:, n, first]
    return scores if softmax == "both" else scores[0]


def first_equal(B: torch.Tensor) -> torch.Tensor:
    """``[N, V]``: for each channel of ``B [N, V, h, w]``, the first channel of the same image
    with exactly the same map (itself if none), e.g. all the channels a ReLU left at 0."""
    out = torch.empty(B.shape[:2], dtype=torch.long)
    for n, maps in enumerate(B.detach().flatten(2).cpu()):
        _, group = torch.unique(maps, dim=0, return_inverse=True)
        first = torch.full((int(group.max()) + 1,), maps.shape[0])
        first.scatter_reduce_(0, group, torch.arange(maps.shape[0]), "amin")
        out[n] = first[group]
    return out


@dataclass(frozen=True)
class Split:
    """The network after a layer: ``run(B [M, V, h, w], *side) -> logits [M, K]``.

    ``side = earlier(x)``: the activations from before the layer that the tail also reads (a
    skip connection; none for most models), ``[N, ...]`` each, computed once per image.
    ``path``: ``"features/classifier"`` (the model's own split), ``"fx"`` (graph cut at the
    layer) or ``"full"`` (no tail: ``run`` is None and every pass starts from the image).
    ``reason``: why the paths tried before this one were not taken.
    """

    path: str
    run: Callable[..., torch.Tensor] | None = None
    earlier: Callable[[torch.Tensor], tuple] = lambda x: ()
    reason: str = ""


def split_at(model: nn.Module, layer: nn.Module, cap=None) -> Split:
    """The tail of ``model`` after ``layer``, tried in order: ``features``/``classifier``,
    ``torch.fx``, none.

    With a capture ``cap`` of ``layer`` (``x``, ``B``, ``target``, ``y``: see
    :class:`camwalls_lib.cams.Capture`), a tail is kept only if it reproduces the model's
    scores ``y`` from ``B`` (relative 1e-4): a model whose ``forward`` is not what its parts
    suggest falls back. The check runs in eval mode.
    """
    reasons = []
    for path, build in (("features/classifier", _own_split), ("fx", _fx_split)):
        try:
            run, earlier = build(model, layer)
        except _Unsplittable as e:
            reasons.append(f"{path}: {e}")
            continue
        with eval_mode(model), torch.no_grad():
            same = cap is None or _reproduces(run, earlier, cap)
        if not same:
            reasons.append(f"{path}: the tail does not reproduce the model's scores")
            continue
        return Split(path, run, earlier, "; ".join(reasons))
    return Split("full", reason="; ".join(reasons))


def ablation_scores(cap, batch_size: int, progress: bool = False,
                    tail_only: bool = True) -> tuple[torch.Tensor, str]:
    """``([N, V] target score with channel v of B set to 0, path)`` for a capture ``cap``
    (:class:`camwalls_lib.cams.Capture`: ``x``, ``B [N, V, h, w]``, ``target``, ``y``,
    ``model``, ``layer``).

    Only the tail after the layer runs when the model can be split there (see
    :func:`split_at`); ``path`` says which way it went (also logged to the ``camwalls``
    logger: a warning when it falls back to full passes). ``tail_only=False`` forces full
    passes (the reference the tail is checked against).
    """
    validate.positive_int(batch_size, "batch_size")
    model, layer, x, B = cap.model, cap.layer, cap.x, cap.B
    N, V = B.shape[:2]
    split = split_at(model, layer, cap) if tail_only else Split("full", reason="tail_only=False")

    def keep(chans):
        k = torch.ones(len(chans), V, 1, 1, dtype=B.dtype, device=B.device)
        k[torch.arange(len(chans)), chans] = 0
        return k

    if split.run is not None:
        with eval_mode(model), torch.no_grad():
            side = split.earlier(x)

        def chunk_logits(n, chans):
            return split.run(B[n:n + 1] * keep(chans),
                             *(s[n:n + 1].expand(len(chans), *s.shape[1:]).clone() for s in side))
        log.info("AblationCAM: tail only (%s split)", split.path)
    else:
        def chunk_logits(n, chans):
            k = keep(chans)
            with hooked(layer, lambda _m, _i, out: out * k.to(out)):
                return model(x[n:n + 1].expand(len(chans), *x.shape[1:]))
        (log.warning if tail_only else log.info)("AblationCAM: full forward passes (%s)",
                                                  split.reason)
    with eval_mode(model):
        scores = target_scores(N, V, cap.target, chunk_logits, batch_size, progress,
                               desc="AblationCAM")
    return scores, split.path


class _Unsplittable(Exception):
    pass


def _own_split(model, layer):
    features, classifier = getattr(model, "features", None), getattr(model, "classifier", None)
    if not (isinstance(features, nn.Sequential) and isinstance(classifier, nn.Module)):
        raise _Unsplittable("the model has no nn.Sequential `features` and `classifier`")
    if len(features) == 0 or features[-1] is not layer:
        raise _Unsplittable("the layer is not the last module of `features`")
    return classifier, lambda x: ()


def _fx_split(model, layer):
    """``(tail, earlier)``: the graph after ``layer``, whose inputs are ``B`` and the earlier
    activations it reads, and the graph computing those from ``x``."""
    name = next((n for n, m in model.named_modules() if m is layer), None)
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as e:  # any Python the tracer cannot follow
        raise _Unsplittable(f"torch.fx cannot trace the model ({type(e).__name__})") from None
    calls = [n for n in graph.nodes if n.op == "call_module" and n.target == name]
    if len(calls) != 1:
        raise _Unsplittable(f"the layer is called {len(calls)} times in the traced graph")
    cut = calls[0]
    after = _descendants(graph, {cut})
    if not any(n.op == "output" for n in after):
        raise _Unsplittable("the output does not depend on the layer")
    from_input = _descendants(graph, {n for n in graph.nodes if n.op == "placeholder"})
    tail, sides = torch.fx.Graph(), []
    env = {cut: tail.placeholder("B")}

    def copy(node):             # the node, and what it reads, into the tail
        if node not in env:
            if node not in after and node in from_input:     # an earlier activation
                sides.append(node)
                env[node] = tail.placeholder(f"side{len(sides)}")
                return env[node]
            for i in node.all_input_nodes:
                copy(i)
            env[node] = tail.node_copy(node, env.__getitem__)
        return env[node]

    for node in graph.nodes:
        if node in after:
            copy(node)
    head, values = torch.fx.Graph(), {}
    head.graph_copy(graph, values)
    head.output(tuple(values[n] for n in sides))
    earlier = torch.fx.GraphModule(model, head)
    earlier.graph.eliminate_dead_code()         # the head: only what the tail reads
    earlier.recompile()
    return torch.fx.GraphModule(model, tail), (lambda x: tuple(earlier(x)))


def _descendants(graph, roots) -> set:
    """``roots`` and every node computed from them."""
    out = set(roots)
    for node in graph.nodes:                      # topological order
        if any(i in out for i in node.all_input_nodes):
            out.add(node)
    return out


def _reproduces(run, earlier, cap) -> bool:
    try:
        side = earlier(cap.x)
        if not all(torch.is_tensor(v) and v.shape[:1] == cap.B.shape[:1] for v in side):
            return False            # only batched tensors can be sliced image by image
        out = run(cap.B.clone(), *(v.clone() for v in side))  # a tail may work in place
    except Exception:   # a tail that cannot run is not the tail
        return False
    if out.dim() != 2 or out.shape[0] != len(cap.y):
        return False
    out = out.gather(1, cap.target[:, None])[:, 0]
    scale = float(cap.y.abs().max().clamp_min(1e-12))
    return torch.allclose(out, cap.y, rtol=1e-4, atol=1e-4 * scale)
