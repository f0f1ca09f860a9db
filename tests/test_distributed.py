"""Training and Table 1 on several processes (torchrun + gloo on this CPU).

Fast: the sharded loader's arithmetic, bad input, and a checkpoint of another world size
refused. Slow (each torchrun launch starts two Python processes, tens of seconds on a loaded
2-core machine): two processes on Fashion-MNIST items (tests/ddp_fit.py) end with identical
weights on both ranks, match one process with the whole batch to a stated tolerance, and an
interrupted-then-resumed run ends in the same bits as an uninterrupted one; the leak table on
two processes is the one-process table (tests/ddp_leak.py); the experiments' command lines
(Fashion-MNIST VGG and its Table 1, ImageNet VGG, MNIST walls) run under torchrun.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from camwalls_lib import distributed
from camwalls_lib.metrics.leak import LeakTable
from camwalls_lib.training import TensorLoader, fit, save_checkpoint
from camwalls_lib.training.batches import shards

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import ddp_fit  # noqa: E402

ONE_STEP_TOLERANCE = 1e-7
"""Largest |difference| allowed between the weights after one step of 2 processes x half batch
and of 1 process x whole batch. Not 0: one process sums the 32 per-image gradients in one
float32 reduction; two processes each sum 16, then gloo adds the two sums and DDP divides by 2
-- the same numbers added in another order, so the last bits differ (observed: 1.5e-8, about
2 float32 ulps of the weights). Over 12 steps this deep network without normalisation
amplifies those bits (observed: 1e-3 after 12 steps, 4e-5 after 6), so after the whole run only
the losses are compared, to 1e-4."""


# ----------------------------------------------------------------------------- fast

@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("n", [12, 13, 17])
def test_shards_of_each_batch_make_up_the_global_batch(size, n):
    x, y = torch.arange(n).float()[:, None], torch.arange(n)
    torch.manual_seed(0)
    whole = [b for _, b in TensorLoader(x, y, 6 if size == 2 else 3, shuffle=True)]
    ranks = []
    for rank in range(size):
        torch.manual_seed(0)
        ranks.append([b for _, b in TensorLoader(x, y, 6 if size == 2 else 3, shuffle=True,
                                                 world=distributed.World(rank, size))])
    assert all(len(r) == len(whole) for r in ranks)
    for k, batch in enumerate(whole):
        parts = [r[k] for r in ranks]
        assert len({len(p) for p in parts}) == 1             # every rank as many images
        got = torch.cat(parts).tolist()
        assert set(batch.tolist()) <= set(got)               # the global batch, plus padding
        assert len(got) - len(batch) < size                  # padding only to a multiple of size


def test_even_false_gives_each_item_to_exactly_one_rank():
    x, y = torch.zeros(13, 1), torch.arange(13)
    seen = [int(v) for r in range(3)
            for _, b in TensorLoader(x, y, 6, world=distributed.World(r, 3), even=False)
            for v in b]
    assert sorted(seen) == list(range(13))


def test_sharding_bad_input():
    with pytest.raises(ValueError, match="multiple of the world size 2"):
        TensorLoader(torch.zeros(4, 1), torch.zeros(4), 5, world=distributed.World(0, 2))
    assert shards(TensorLoader(torch.zeros(4, 1), torch.zeros(4), 2,
                               world=distributed.World(1, 2))) == 2
    assert shards([(torch.zeros(1, 1), torch.zeros(1))]) == 1


def test_setup_without_torchrun_is_one_process_and_a_half_environment_is_refused(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.setup("cpu") == (distributed.World(), torch.device("cpu"))
    assert distributed.sum_numbers(2, 3.5) == [2.0, 3.5] and distributed.gather_objects(7) == [7]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    with pytest.raises(RuntimeError, match="start the program with torchrun"):
        distributed.setup("cpu")


def test_fit_on_several_processes_refuses_an_unsharded_loader(monkeypatch):
    monkeypatch.setattr(distributed, "current", lambda: distributed.World(0, 2))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    loader = TensorLoader(torch.rand(8, 1, 2, 2), torch.randint(0, 2, (8,)), 4)
    with pytest.raises(ValueError, match="not sharded.*world=distributed.current"):
        fit(model, loader, 1, torch.optim.SGD(model.parameters(), lr=0.1), progress=False)


def test_resuming_at_another_world_size_is_refused(tmp_path):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(tmp_path / "run.ckpt", model, optimizer, epoch=1, world_size=2)
    loader = TensorLoader(torch.rand(8, 1, 2, 2), torch.randint(0, 2, (8,)), 4)
    with pytest.raises(ValueError, match="2 process.*torchrun --nproc_per_node=2"):
        fit(model, loader, 2, optimizer, checkpoint=tmp_path / "run.ckpt", resume=True,
            progress=False, device="cpu")


# ----------------------------------------------------------------------------- torchrun

def torchrun(*args, nproc=2, check=True):
    """Run tests/ddp_fit.py (or another script) under torchrun with gloo; its return code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={nproc}", *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if check and done.returncode != 0:
        raise AssertionError(f"torchrun failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.returncode


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    torchrun(ROOT / "tests" / "ddp_fit.py", out)
    return out, torch.load(out / "result.pt", weights_only=True)


def one_process(out, steps=None):
    """The same run in this process (one thread, as each torchrun rank)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return ddp_fit.train(out, distributed.World(), steps=steps)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_both_ranks_end_with_identical_weights_and_one_process_the_same_losses(two_processes,
                                                                               tmp_path):
    out, result = two_processes
    rank0, rank1 = result["weights"]
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)          # (a)
    ckpt = torch.load(out / "run.ckpt", weights_only=True)
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == ddp_fit.EPOCHS
    _, history = one_process(tmp_path)
    assert history.train_loss == pytest.approx(result["history"]["train_loss"], rel=1e-4)
    assert history.train_loss[-1] < history.train_loss[0]               # it learns
    assert history.val_top1 == result["history"]["val_top1"]             # summed over ranks


@pytest.mark.slow
def test_one_step_matches_one_process_and_an_interrupted_run_resumes_to_the_same_bits(
        two_processes, tmp_path):
    _, reference = two_processes
    assert torchrun(ROOT / "tests" / "ddp_fit.py", tmp_path, "--interrupt-at", 1,
                    check=False) != 0                  # SIGINT to rank 1 alone, in step 1
    ckpt = torch.load(tmp_path / "run.ckpt", weights_only=True)
    assert (ckpt["epoch"], ckpt["step"], ckpt["world_size"]) == (0, 1, 2)   # both stopped
    assert not (tmp_path / "result.pt").exists()
    (tmp_path / "one").mkdir()
    one, _ = one_process(tmp_path / "one", steps=1)
    diff = max((v - ckpt["model"][k]).abs().max().item() for k, v in one.state_dict().items())
    moved = max((v - ckpt["model"][k]).abs().max().item()
                for k, v in ddp_fit.build().state_dict().items())
    assert diff <= ONE_STEP_TOLERANCE < moved / 1000, (diff, moved)     # (b)
    torchrun(ROOT / "tests" / "ddp_fit.py", tmp_path, "--resume")              # (c)
    resumed = torch.load(tmp_path / "result.pt", weights_only=True)
    for rank in range(2):
        for k, v in reference["weights"][rank].items():
            assert torch.equal(resumed["weights"][rank][k], v), (rank, k)
    assert resumed["history"]["train_loss"] == pytest.approx(reference["history"]["train_loss"],
                                                             rel=1e-12)


@pytest.mark.slow
def test_leak_table_on_two_processes_is_the_one_process_table(tmp_path):
    import ddp_leak

    torchrun(ROOT / "tests" / "ddp_leak.py", tmp_path)
    rank0, rank1 = torch.load(tmp_path / "result.pt", weights_only=True)
    (tmp_path / "one").mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = ddp_leak.table(tmp_path / "one")
    finally:
        torch.set_num_threads(threads)
    assert list(one.mu) == list(rank0) == ddp_leak.METHODS
    for name, mu in one.mu.items():
        assert len(mu) == 20
        assert torch.equal(rank0[name], mu) and torch.equal(rank1[name], mu), name
    cached = LeakTable.from_csv(tmp_path / "leak.csv")            # written by rank 0
    assert cached.fingerprint == one.fingerprint
    assert all(torch.allclose(cached.mu[n], one.mu[n], atol=1e-8) for n in one.mu)


@pytest.mark.slow
def test_fashion_recipe_and_its_table1_run_under_torchrun(tmp_path):
    """The recipe CLIs themselves, 2 processes: tiny width, 32 training items, one epoch."""
    torchrun("-m", "camwalls_lib.experiments.fashion_vgg", "--out", tmp_path, "--train", 32,
             "--test", 16, "--val", 16, "--epochs", 1, "--width", 1 / 32, "--batch", 32,
             "--only", "walled",
             "--device", "cpu")
    record = json.loads((tmp_path / "record.json").read_text())["walled"]
    assert record["processes"] == 2 and record["test_items"] == 16
    assert len(record["step_losses"]) == 1                      # 32 items, global batch 32
    assert (tmp_path / "train_log.txt").read_text().count("walled: test top-1") == 1  # rank 0
    assert torch.load(tmp_path / "walled.ckpt", weights_only=True)["world_size"] == 2
    torchrun("-m", "camwalls_lib.experiments.fashion_table1", "--weights", tmp_path,
             "--composites", 8, "--perturbation-composites", 2)
    table = json.loads((tmp_path / "table1.json").read_text())
    assert table["summary"]["hirescam"][0] == 0.0 and table["summary"]["gradcam"][2] == 8


@pytest.mark.slow
def test_imagenet_recipe_runs_under_torchrun(tmp_path):
    from camwalls_lib.experiments import imagenet_vgg
    from camwalls_lib.networks.vgg import load_paper_vgg

    data = imagenet_vgg.make_synthetic_folder(tmp_path / "data", num_classes=4, per_class=4,
                                              val_per_class=1)
    torchrun("-m", "camwalls_lib.experiments.imagenet_vgg", "train", "--data", data,
             "--recipe", "cpu-smoke", "--out", tmp_path / "run", "--epochs", 1,
             "--batch-size", 4)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 1
    assert load_paper_vgg(tmp_path / "run" / "masked_vgg.pt") is not None


@pytest.mark.slow
def test_mnist_walls_runs_under_torchrun_and_caches_under_its_own_key(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMWALLS_CACHE", str(tmp_path))
    torchrun("-m", "camwalls_lib.experiments.mnist_walls", "--images", 2048, "--device", "cpu")
    files = list((tmp_path / "mnist").glob("toy-walled-*.pt"))
    assert len(files) == 1                                       # written once, by rank 0
    blob = torch.load(files[0], weights_only=True)
    assert json.loads(blob["config"])["processes"] == 2 and blob["accuracy"] > 0.5
