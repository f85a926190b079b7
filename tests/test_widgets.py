"""The demo driven as a person would, without a browser: set values, click, read what the widgets show."""
import pytest
import torch

from workbench.widgets import Demo
from workbench.zoo import Zoo


@pytest.fixture(scope="module")
def demo():
    return Demo("smoke", seed=0)


def test_binary_task_click_shows_an_evaluated_net(demo, tmp_path):
    for c, box in enumerate(demo.classes):
        box.value = c in (0, 3, 7)
    demo.generate_button.click()
    assert demo.status.value.endswith("done"), demo.status.value
    assert "accuracy" in demo.accuracy.value and "IoU" in demo.novelty.value
    last = demo.last
    assert last["code"].tolist() == [1, 0, 0, 1, 0, 0, 0, 1, 0, 0]
    assert 0 <= last["accuracy"] <= 100 and last["confusion"].shape == (2, 2)
    assert last["confusion"].sum() == len(last["zoo"].dataset().y_test)
    assert demo.image.value[:8] == b"\x89PNG\r\n\x1a\n" and not demo.save_button.disabled
    demo.save_path.value = str(tmp_path / "net")
    demo.save_button.click()
    saved = Zoo.load(tmp_path / "net")
    assert torch.equal(saved.flat, last["flat"]) and saved.manifest["generated"]["generator"] == "rpg"
    assert saved.manifest["checkpoints"][0]["code"] == "1001000100"


def test_same_seed_same_net_other_seed_other_net(demo):
    demo.method.value = "rpg_task"
    demo.seed.value = 3
    a = demo.generate()
    flat_a = demo.last["flat"]
    demo.generate()
    assert torch.equal(flat_a, demo.last["flat"]) and a["accuracy"] == demo.last["accuracy"]
    demo.seed.value = 4
    demo.generate()
    assert not torch.equal(flat_a, demo.last["flat"])


def test_a_task_without_both_labels_is_refused_in_the_status_line(demo):
    demo.method.value = "rpg_task"
    for box in demo.classes:
        box.value = False
    demo.generate_button.click()
    assert "ValueError" in demo.status.value and "tick at least one class" in demo.status.value
    assert not demo.generate_button.disabled          # the demo stays usable after an error


def test_neurogen_takes_the_instruction_text(demo):
    demo.method.value = "neurogen"
    assert demo.choice.children == (demo.instruction,)
    demo.instruction.value = "Please help generate parameters of the CNN-s neural network for mnist5k."
    demo.generate_button.click()
    assert demo.status.value.endswith("done"), demo.status.value
    assert demo.last["method"] == "neurogen" and demo.last["confusion"].shape == (10, 10)


def test_igpg_offers_the_collection_pairs(demo):
    demo.method.value = "igpg"                          # first use: collects and trains at smoke, fills the menus
    assert "cnn_s" in demo.arch.options and "digits28" in demo.dataset.options
    demo.arch.value, demo.dataset.value = "cnn_s", "digits28"      # the held-out dataset
    demo.generate_button.click()
    assert demo.status.value.endswith("done"), demo.status.value
    assert demo.last["zoo"].manifest["dataset"] == "digits28"


def test_the_demo_opens_ready_with_its_preset_shown_and_a_clean_output_area(demo):
    assert set(demo._cache) >= {"rpg_task", "rpg", "neurogen"}      # generators made when it opened
    assert "preset <b>smoke</b>" in demo.banner.value and "CI setting" in demo.banner.value
    assert demo.out.outputs == ()                                    # progress bars cleared once ready, no warnings
    with pytest.raises(ValueError, match="unknown preset; accepted: smoke, small, paper"):
        Demo("nosuch")
    with pytest.raises(ValueError, match=r"unknown methods; accepted: rpg_task"):
        Demo("smoke", prepare=("rpg", "nosuch"))


def test_the_result_shown_is_always_the_selected_methods(demo):
    demo.method.value = "rpg"
    demo.generate_button.click()
    assert demo.last["method"] == "rpg" and demo.accuracy.value
    demo.method.value = "neurogen"                                   # another method: the old result is gone
    assert demo.last is None and demo.accuracy.value == "" and demo.image.value == b"" and demo.save_button.disabled
    assert "neurogen" in demo.status.value


def test_save_defaults_to_the_ignored_saves_folder(demo, tmp_path, monkeypatch):
    from workbench import io

    monkeypatch.setenv("WORKBENCH_SAVES", str(tmp_path / "saves"))
    demo.method.value = "rpg"
    demo.seed.value = 1
    demo.save_path.value = ""
    demo.generate_button.click()
    demo.save_button.click()
    assert Zoo.load(tmp_path / "saves" / "rpg-seed1").manifest["generated"]["seed"] == 1
    ignored = (io.ROOT / ".gitignore").read_text().split()
    assert "/saves/" in ignored                                      # the default saves/ is git-ignored


def test_an_instruction_longer_than_the_backbone_is_refused_in_the_status_line(demo):
    demo.method.value = "neurogen"
    demo.instruction.value = "generate a network " * 200             # ~600 tokens: MiniLM has 512 positions
    demo.generate_button.click()
    assert "ValueError" in demo.status.value and "exceeds the backbone's 512 positions" in demo.status.value
    demo.instruction.value = ""
