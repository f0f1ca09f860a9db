"""The peer adapters leave the model as they found it, explain in eval mode, and refuse
names and options that cannot reach a method (issue 21)."""

import pytest
import torch
import torch.nn as nn

from camwalls_lib import peers
from camwalls_lib.networks.models import ToyCNN
from camwalls_lib.walls import Wall

MODULES = {"grad-cam": "pytorch_grad_cam", "torchcam": "torchcam", "captum": "captum"}
ONE = {"grad-cam": "GradCAM", "torchcam": "GradCAM", "captum": "LayerGradCam"}


def _model(dropout=False):
    torch.manual_seed(0)
    model = ToyCNN(image_size=16, V=6, k=3, k_pool=2, wall=Wall.bottom(3), bias=True,
                   num_classes=4)
    if dropout:
        model.classifier.insert(0, nn.Dropout(0.5))
    return model


X = torch.rand(2, 1, 16, 16)
T = torch.tensor([0, 1])


@pytest.mark.parametrize("library", list(peers.LIBRARIES))
def test_a_train_mode_model_is_left_in_train_mode(library):
    pytest.importorskip(MODULES[library])
    model = _model().train()
    peers.explainers(library, methods=[ONE[library]])[ONE[library]](model, X, T)
    assert model.training and all(m.training for m in model.modules())


@pytest.mark.parametrize("library", list(peers.LIBRARIES))
def test_maps_are_explained_in_eval_mode(library):
    pytest.importorskip(MODULES[library])
    model = _model(dropout=True).train()
    explain = peers.explainers(library, methods=[ONE[library]])[ONE[library]]
    a, b = (torch.as_tensor(explain(model, X, T)) for _ in range(2))
    assert torch.equal(a, b), "dropout on: maps vary from call to call"


@pytest.mark.parametrize("library", list(peers.LIBRARIES))
@pytest.mark.parametrize("methods", [["gradcam_typo"], [], 3])
def test_a_wrong_method_name_lists_the_valid_ones(library, methods):
    pytest.importorskip(MODULES[library])
    with pytest.raises((ValueError, TypeError), match="methods"):
        peers.explainers(library, methods=methods)


@pytest.mark.parametrize("library", list(peers.LIBRARIES))
def test_one_name_as_a_string_and_any_case(library):
    pytest.importorskip(MODULES[library])
    name = ONE[library]
    assert list(peers.explainers(library, methods=name)) == [name]
    assert list(peers.explainers(library, methods=name.lower())) == [name]


def test_grad_cam_scorecam_uses_the_batch_size_it_is_given():
    pytest.importorskip("pytorch_grad_cam")
    model, sizes = _model().eval(), []
    model.register_forward_hook(lambda m, i, o: sizes.append(len(i[0])))
    peers.explainers("grad-cam", batch_size=3, methods=["ScoreCAM"])["ScoreCAM"](model, X[:1], T[:1])
    assert max(sizes) == 3


@pytest.mark.parametrize("options, match", [({"SSCAM": {"num_samples": 0}}, "num_samples"),
                                            ({"SSCAM": {"num_samplez": 4}}, "num_samplez"),
                                            ({"NoSuchCAM": {}}, "NoSuchCAM"),
                                            ({"SSCAM": 4}, "SSCAM")])
def test_torchcam_options_that_cannot_reach_a_method_are_refused(options, match):
    pytest.importorskip("torchcam")
    with pytest.raises((ValueError, TypeError), match=match):
        peers.explainers("torchcam", options=options)


@pytest.mark.parametrize("library, kwargs", [("grad-cam", {"batch_size": 0}),
                                             ("torchcam", {"batch_size": -1}),
                                             ("captum", {"ig_steps": 0})])
def test_counts_below_one_are_refused(library, kwargs):
    pytest.importorskip(MODULES[library])
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        peers.explainers(library, **kwargs)


ALL_ADAPTERS = [("grad-cam", "pytorch_grad_cam"), ("torchcam", "torchcam"),
                ("captum", "captum"), ("captum_more", "captum"), ("zennit", "zennit"),
                ("shap", "shap")]


def _explainers_of(library):
    from camwalls_lib.peers import captum_more, shap_values, zennit_lrp
    return {"captum_more": captum_more.explainers, "zennit": zennit_lrp.explainers,
            "shap": shap_values.explainers}.get(library, lambda: peers.explainers(library))()


@pytest.mark.parametrize("library, module", ALL_ADAPTERS)
@pytest.mark.parametrize("target, error, says", [
    (torch.tensor([1, 99]), ValueError, r"target \[99\] out of range for 4 classes"),
    (-1, ValueError, "out of range"), ([0, 1, 2], ValueError, "3 entries for a batch of 2"),
    (2.5, TypeError, "class indices"),
])
def test_every_adapter_checks_the_target_before_the_peer_library(library, module, target,
                                                                  error, says):
    """One shared check (peers.checked): the number of classes comes from the model, and a
    bad target is a library error, not an index error deep inside the peer library."""
    pytest.importorskip(module)
    from camwalls_lib.errors import CamwallsError
    explain = next(iter(_explainers_of(library).values()))
    with pytest.raises(error, match=says) as info:
        explain(_model().eval(), X, target)
    assert isinstance(info.value, CamwallsError)


def test_checked_hands_on_the_predicted_class_when_no_target_is_given():
    seen = []
    explain = peers.checked(lambda model, x, target: seen.append(target) or torch.zeros(2, 4, 4))
    model = _model().eval()
    explain(model, X, None)
    assert torch.equal(seen[0], model(X).argmax(1))
    explain(model, X, 3)
    assert seen[1].tolist() == [3, 3]
