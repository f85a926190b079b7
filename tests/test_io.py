"""workbench.io: atomic writes, safetensors only, finite weights, code keys."""
import pickle

import pytest
import torch

from workbench import io


def test_a_write_that_crashes_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    io.write_json(path, {"a": 1})

    def crash(tmp):
        with open(tmp, "w") as fh:
            fh.write('{"half": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.atomic_write(path, crash)
    assert io.read_json(path) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    path.write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON.*delete it"):
        io.read_json(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.read_json(tmp_path / "missing.json")


def test_weights_travel_as_finite_safetensors_and_pickles_are_refused(tmp_path):
    t = {"w": torch.arange(6.0).reshape(2, 3), "n": torch.tensor([3])}
    io.save_tensors(tmp_path / "p.safetensors", t, metadata={"k": "v"})
    back = io.load_tensors(tmp_path / "p.safetensors")
    assert all(torch.equal(back[k], t[k]) for k in t) and io.tensor_metadata(tmp_path / "p.safetensors") == {"k": "v"}
    with pytest.raises(ValueError, match=r"'w' holds 1 NaN/inf value\(s\) \(first at index \(1, 2\)\)"):
        io.save_tensors(tmp_path / "bad.safetensors", {"w": torch.tensor([[0.0, 1, 2], [3, 4, float("nan")]])})
    assert not (tmp_path / "bad.safetensors").exists()
    (tmp_path / "evil.safetensors").write_bytes(pickle.dumps({"w": [1.0]}))   # a pickle under a safetensors name
    with pytest.raises(ValueError, match="it is a pickle"):
        io.load_tensors(tmp_path / "evil.safetensors")
    (tmp_path / "ckpt.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="never unpickled"):
        io.load_tensors(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="looks like a pickled checkpoint"):
        io.refuse_pickles(tmp_path)


def test_the_code_key_changes_with_the_code_it_covers_and_nothing_else(tmp_path):
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "a.py").write_text("x = 1\n")
    (tmp_path / "other.py").write_text("y = 1\n")
    key = io.code_key(("gen",), pkg=tmp_path)
    (tmp_path / "other.py").write_text("y = 2\n")
    assert io.code_key(("gen",), pkg=tmp_path) == key
    (tmp_path / "gen" / "a.py").write_text("x = 2\n")
    assert io.code_key(("gen",), pkg=tmp_path) != key
