"""camwalls_lib.training.fit: the wall survives every optimizer, checkpoints reload with
weights_only=True, and an interrupted-then-resumed run ends in the same bits."""

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from camwalls_lib.networks.models import WalledNet
from camwalls_lib.training import History, TensorLoader, evaluate, fit, load_checkpoint
from camwalls_lib.walls import Wall, WalledLinear, wall_is_exact, walled_weights


class TinyWalled(WalledNet):
    """conv -> ReLU -> pool -> Dropout -> WalledLinear: 12x12 input, 4 x 5 x 5 map, bottom 2
    rows walled. Dropout makes every step draw from the RNG, so resuming must restore it."""

    def __init__(self, num_classes=5):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.wall = Wall.bottom(2)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3),
                                        WalledLinear((4, 5, 5), num_classes, self.wall))


def data(n=96, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 1, 12, 12, generator=g),
                         torch.randint(0, classes, (n,), generator=g))


def loader(ds, shuffle=True):
    return DataLoader(ds, batch_size=16, shuffle=shuffle)


def setup(seed=0, opt="adam"):
    torch.manual_seed(seed)
    model = TinyWalled()
    if opt == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return model, optimizer, scheduler


def raw_walled_weights(model):
    layer = next(m for m in model.modules() if isinstance(m, WalledLinear))
    return walled_weights(layer).detach()


def same_bits(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("opt", ["sgd", "adam", "adamw"])
def test_wall_stays_exactly_zero(opt):
    torch.manual_seed(0)
    model = TinyWalled()
    params = model.parameters()
    optimizer = {"sgd": lambda: torch.optim.SGD(params, lr=0.5, momentum=0.9, weight_decay=0.1),
                 "adam": lambda: torch.optim.Adam(params, lr=0.05, weight_decay=0.1),
                 "adamw": lambda: torch.optim.AdamW(params, lr=0.05, weight_decay=0.1)}[opt]()
    visible_before = model.classifier[2].weight.detach().clone()
    fit(model, loader(data()), 2, optimizer, progress=False, device="cpu")
    walled = raw_walled_weights(model)
    assert walled.numel() == 5 * 4 * 2 * 5
    assert torch.count_nonzero(walled) == 0          # the raw parameter, not only the product
    assert wall_is_exact(model)
    assert not torch.equal(model.classifier[2].weight.detach(), visible_before)  # it did train


def test_history_and_validation():
    model, optimizer, scheduler = setup()
    ds = data()
    h = fit(model, loader(ds), 3, optimizer, scheduler, val_loader=loader(ds, False),
            progress=False, device="cpu")
    assert isinstance(h, History) and h.epoch == [1, 2, 3] and len(h) == 3
    assert all(0 <= a <= 1 for a in h.val_top1) and all(0 <= a <= 1 for a in h.val_top5)
    assert h.lr == pytest.approx([1e-2, 7e-3, 4.9e-3])   # scheduler stepped once per epoch
    top1, top5 = evaluate(model, loader(ds, False), device="cpu")
    assert top1 == h.val_top1[-1] and top5 == h.val_top5[-1]
    assert top5 >= top1
    # fewer than 5 classes: no top-5
    model3 = TinyWalled(num_classes=3)
    assert evaluate(model3, loader(data(classes=3), False), device="cpu")[1] is None


def test_max_steps_per_epoch_counts_images():
    model, optimizer, _ = setup()
    h = fit(model, loader(data()), 1, optimizer, max_steps_per_epoch=2, progress=False,
            device="cpu")
    assert h.images_per_s[0] > 0 and len(h) == 1


def test_checkpoint_loads_with_weights_only(tmp_path):
    model, optimizer, scheduler = setup()
    path = tmp_path / "run.pt"
    fit(model, loader(data()), 2, optimizer, scheduler, checkpoint=path, progress=False,
        device="cpu")
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 2 and raw["history"]["epoch"] == [1, 2]
    fresh, fresh_opt, fresh_sched = setup(seed=123)
    assert not same_bits(fresh, model)
    ckpt = load_checkpoint(path, fresh, fresh_opt, fresh_sched)
    assert same_bits(fresh, model) and wall_is_exact(fresh)
    assert ckpt["history"].epoch == [1, 2]
    assert fresh_sched.state_dict() == scheduler.state_dict()
    x = torch.rand(4, 1, 12, 12)
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))


def uninterrupted(epochs=3, opt="adam"):
    model, optimizer, scheduler = setup(opt=opt)
    torch.manual_seed(1)
    h = fit(model, loader(data()), epochs, optimizer, scheduler, progress=False, device="cpu")
    return model, h


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_interrupt_after_epoch_then_resume_is_bit_identical(tmp_path, opt):
    reference, h_ref = uninterrupted(opt=opt)
    path = tmp_path / "run.pt"

    def stop_after_first(epoch, history):
        if epoch == 1:
            raise KeyboardInterrupt

    model, optimizer, scheduler = setup(opt=opt)
    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader(data()), 3, optimizer, scheduler, checkpoint=path,
            progress=False, device="cpu", callback=stop_after_first)
    assert torch.load(path, weights_only=True)["epoch"] == 1
    torch.manual_seed(999)                     # a new session: other random state
    model, optimizer, scheduler = setup(seed=7, opt=opt)
    h = fit(model, loader(data()), 3, optimizer, scheduler, checkpoint=path, resume=True,
            progress=False, device="cpu")
    assert same_bits(model, reference)
    assert h.epoch == [1, 2, 3] and h.train_loss == h_ref.train_loss


class RaiseOnce:
    """A loader that raises KeyboardInterrupt when asked for batch ``at`` of epoch ``epoch``
    (both 0-based), once -- a Ctrl-C in the middle of an epoch."""

    def __init__(self, inner, epoch, at):
        self.inner, self.epoch, self.at, self.calls, self.fired = inner, epoch, at, 0, False

    def __len__(self):
        return len(self.inner)

    def __iter__(self):
        epoch, self.calls = self.calls, self.calls + 1
        for i, batch in enumerate(self.inner):
            if epoch == self.epoch and i == self.at and not self.fired:
                self.fired = True
                raise KeyboardInterrupt
            yield batch


def test_interrupt_mid_epoch_then_resume_is_bit_identical(tmp_path):
    reference, h_ref = uninterrupted()
    path = tmp_path / "run.pt"
    model, optimizer, scheduler = setup()
    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        fit(model, RaiseOnce(loader(data()), epoch=1, at=3), 3, optimizer, scheduler,
            checkpoint=path, progress=False, device="cpu")
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 1 and raw["step"] == 3
    model, optimizer, scheduler = setup(seed=5)
    torch.manual_seed(42)
    h = fit(model, loader(data()), 3, optimizer, scheduler, checkpoint=path, resume=True,
            progress=False, device="cpu")
    assert same_bits(model, reference)
    assert h.epoch == [1, 2, 3]
    assert h.train_loss == pytest.approx(h_ref.train_loss, rel=1e-12)


def test_resume_without_checkpoint_file_trains_from_scratch(tmp_path):
    reference, _ = uninterrupted(epochs=2)
    model, optimizer, scheduler = setup()
    torch.manual_seed(1)
    fit(model, loader(data()), 2, optimizer, scheduler, checkpoint=tmp_path / "new.pt",
        resume=True, progress=False, device="cpu")
    assert same_bits(model, reference)
    # already finished: resuming again does nothing
    before = {k: v.clone() for k, v in model.state_dict().items()}
    h = fit(model, loader(data()), 2, optimizer, scheduler, checkpoint=tmp_path / "new.pt",
            resume=True, progress=False, device="cpu")
    assert len(h) == 2 and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_input_is_explained(tmp_path):
    model, optimizer, _ = setup()
    with pytest.raises(ValueError, match="checkpoint"):
        fit(model, loader(data()), 1, optimizer, resume=True, progress=False)
    with pytest.raises(TypeError, match=r"\(images, labels\)"):
        fit(model, [torch.rand(2, 1, 12, 12)], 1, optimizer, progress=False, device="cpu")
    with pytest.raises(ValueError, match="scheduler_step"):
        fit(model, loader(data()), 1, optimizer, scheduler_step="never", progress=False)
    with pytest.raises(ValueError, match="amp"):
        fit(model, loader(data()), 1, optimizer, amp="fp8", progress=False)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt", model)


class CtrlCOnce(RaiseOnce):
    """A real SIGINT sent to this process while batch ``at`` of epoch ``epoch`` is fetched."""

    def __iter__(self):
        import os
        import signal
        epoch, self.calls = self.calls, self.calls + 1
        for i, batch in enumerate(self.inner):
            if epoch == self.epoch and i == self.at and not self.fired:
                self.fired = True
                os.kill(os.getpid(), signal.SIGINT)
            yield batch


def test_real_ctrl_c_stops_at_a_step_boundary_and_resumes_bit_identical(tmp_path, capsys):
    reference, _ = uninterrupted()
    path = tmp_path / "run.pt"
    model, optimizer, scheduler = setup()
    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        fit(model, CtrlCOnce(loader(data()), epoch=2, at=1), 3, optimizer, scheduler,
            checkpoint=path, progress=False, device="cpu")
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 2 and raw["step"] == 2      # the batch in flight was still trained on
    model, optimizer, scheduler = setup(seed=3)
    fit(model, loader(data()), 3, optimizer, scheduler, checkpoint=path, resume=True,
        progress=False, device="cpu")
    assert same_bits(model, reference)


def noisy(x, y):
    """An augmentation that draws from the global generator, like random shifts do."""
    return x + 0.1 * torch.randn_like(x), y


def onecycle_run(path=None, resume=False, loader_=None, seed=0):
    model, _, _ = setup(seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    ds = data()
    loader_ = loader_ or TensorLoader(ds.tensors[0], ds.tensors[1], 16, shuffle=True,
                                      transform=noisy)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 1e-2, total_steps=3 * 6)
    if not resume:
        torch.manual_seed(1)
    fit(model, loader_, 3, optimizer, scheduler, checkpoint=path, resume=resume,
        progress=False, device="cpu", scheduler_step="batch")
    return model, scheduler


def test_tensor_loader_batches_every_image_once():
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    batches = list(TensorLoader(x, y, 4, shuffle=True))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in batches)
    assert len(TensorLoader(x, y, 4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="length"):
        TensorLoader(x, y[:3])


def test_batch_scheduler_and_augmenting_loader_resume_bit_identical(tmp_path):
    reference, ref_sched = onecycle_run()
    assert ref_sched.last_epoch == 18                  # stepped once per batch
    path = tmp_path / "run.pt"
    ds = data()
    interrupted = RaiseOnce(TensorLoader(ds.tensors[0], ds.tensors[1], 16, shuffle=True,
                                         transform=noisy), epoch=1, at=4)
    with pytest.raises(KeyboardInterrupt):
        onecycle_run(path, loader_=interrupted)
    model, sched = onecycle_run(path, resume=True, seed=9)
    assert sched.last_epoch == 18
    assert same_bits(model, reference)
