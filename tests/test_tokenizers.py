import pytest
import torch

from workbench.evaluate import accuracy
from workbench.nets import create_net
from workbench.tokenizers import Tokenizer, masked_mse
from workbench.zoo import Zoo


@pytest.fixture(scope="module")
def zoo(mlp_zoo):
    """The suite's shared small MLP zoo (conftest)."""
    return mlp_zoo


@pytest.mark.parametrize("granularity", ["flat", "layer", "channel"])
@pytest.mark.parametrize("token_size", [1, 7, 64])
def test_round_trip_is_bit_exact(zoo, granularity, token_size):
    tok = Tokenizer.fit(zoo, granularity, token_size)
    tokens = tok.encode(zoo.flat, dtype=torch.float64)
    assert torch.equal(tok.decode(tokens), zoo.flat)
    assert torch.isnan(tokens[:, ~tok.mask]).all() and not torch.isnan(tokens[:, tok.mask]).any()
    assert tok.mask.sum() == zoo.layout.dim  # every coordinate appears exactly once
    assert sorted(tok.index[tok.mask].tolist()) == list(range(zoo.layout.dim))


def test_float32_tokens_give_the_same_accuracy(zoo, digits):
    tok = Tokenizer.fit(zoo, "layer", 64)
    back = tok.decode(tok.encode(zoo.flat))
    assert torch.equal(accuracy(zoo, back, digits.X_test, digits.y_test), accuracy(zoo, zoo.flat, digits.X_test, digits.y_test))


def test_layer_tokens_never_cross_a_tensor_and_positions(zoo):
    tok = Tokenizer.fit(zoo, "layer", 10)
    key_of = zoo.layout.key_index()
    for row, (layer, _) in zip(tok.index, tok.positions.tolist()):
        assert set(key_of[row[row >= 0]].tolist()) == {layer}
    assert Tokenizer.fit(zoo, "flat", 10).num_tokens == -(-zoo.layout.dim // 10)


def test_batchnorm_buffers_round_trip():
    nets = [create_net("resnet", blocks=(1,), width=4, image_size=8) for _ in range(2)]
    for n in nets:
        n.train()(torch.randn(8, 1, 8, 8))
    z = Zoo.from_state_dicts([n.state_dict() for n in nets], net="resnet", net_kwargs=dict(blocks=(1,), width=4, image_size=8))
    tok = Tokenizer.fit(z, "channel", 16)
    assert torch.equal(tok.decode(tok.encode(z.flat, dtype=torch.float64)), z.flat)
    assert not any(k.name.endswith("num_batches_tracked") for k in z.layout.float_keys)


def test_masked_mse_ignores_padding_and_errors_are_clear(zoo):
    t = torch.tensor([[1.0, float("nan")]])
    assert masked_mse(torch.tensor([[3.0, 100.0]]), t) == 4.0
    tok = Tokenizer.fit(zoo, "layer", 8)
    with pytest.raises(ValueError, match="expected parameters"):
        tok.encode(torch.zeros(1, 3))
    bad = tok.encode(zoo.flat)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="diverged"):
        tok.decode(bad)
