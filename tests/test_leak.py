"""leak_table: Table 1 for any model, cached; HiResCAM never leaks."""

import torch

from camwalls_lib.metrics.leak import PAPER_TABLE1, LeakTable, leak_table
from camwalls_lib.networks.models import ToyCNN, masked_vgg16
from camwalls_lib.walls import Wall, dead_zone


def test_leak_table_on_three_images_and_its_cache(tmp_path):
    torch.manual_seed(0)
    model = masked_vgg16(num_classes=5, width=1 / 32, input_size=224)
    x = torch.rand(3, 3, 224, 224)
    zone = dead_zone(model, (3, 224, 224))
    methods = ["gradcam", "hirescam", "eigencam"]
    table = leak_table(model, x, zone, methods=methods, cache=tmp_path / "t.csv", progress=False)
    assert list(table.mu) == methods and all(len(v) == 3 for v in table.mu.values())
    assert (table.mu["hirescam"] == 0).all() and (table.mu["eigencam"] > 0).all()
    again = leak_table(model, x, zone, methods=methods, cache=tmp_path / "t.csv", progress=False)
    torch.testing.assert_close(again.mu["gradcam"], table.mu["gradcam"])
    assert "EigenCAM" in table.to_markdown("STACK-MIX") and "51.7 ± 19.7" in table.to_markdown("STACK-MIX")


def test_cache_is_ignored_when_the_question_changes(tmp_path):
    model = ToyCNN(V=8, wall=Wall.bottom(4), tau=1.0)
    zone = dead_zone(model, (28, 28))
    x = torch.rand(4, 1, 28, 28)
    leak_table(model, x, zone, methods=["gradcam"], cache=tmp_path / "t.csv", progress=False)
    table = leak_table(model, x, zone, methods=["gradcam", "hirescam"], cache=tmp_path / "t.csv",
                       progress=False)
    assert list(LeakTable.from_csv(tmp_path / "t.csv").mu) == ["gradcam", "hirescam"]
    assert table.rows()[1] == ("HiResCAM", 0.0, 0.0)
    other_images = leak_table(model, torch.rand(4, 1, 28, 28), zone, methods=["gradcam", "hirescam"],
                              cache=tmp_path / "t.csv", progress=False)
    assert not torch.equal(other_images.mu["gradcam"], table.mu["gradcam"])
    other_model = ToyCNN(V=8, wall=Wall.bottom(4), tau=1.0)
    assert not torch.equal(leak_table(other_model, x, zone, methods=["gradcam", "hirescam"],
                                      cache=tmp_path / "t.csv", progress=False).mu["gradcam"],
                           table.mu["gradcam"])


def test_leak_table_can_keep_its_maps():
    model = ToyCNN(V=8, wall=Wall.bottom(4), tau=1.0)
    zone = dead_zone(model, (28, 28))
    x = torch.rand(2, 1, 28, 28)
    table = leak_table(model, x, zone, methods=["gradcam"], keep_maps=True, progress=False)
    assert table.maps["gradcam"].shape == (2, 28, 28)


def test_paper_table_is_quoted_for_the_seven_methods():
    assert set(PAPER_TABLE1) == {"gradcam", "gradcam++", "xgradcam", "scorecam", "ablationcam",
                                 "eigencam", "hirescam"}


def test_leak_table_takes_a_custom_rule():
    model = ToyCNN(V=8, wall=Wall.bottom(4), tau=1.0)
    zone = dead_zone(model, (28, 28))

    def local_gradient(cap):
        return cap.dB

    table = leak_table(model, torch.rand(3, 1, 28, 28), zone, methods=["gradcam", local_gradient],
                       progress=False)
    assert table.rows()[1][0] == "local_gradient" and (table.mu["local_gradient"] == 0).all()
