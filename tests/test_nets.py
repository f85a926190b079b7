import pytest
import torch

from workbench.nets import available_nets, count_params, create_net, head_features, head_name

SMALL = {"vit_tiny": dict(depth=1, embed_dim=32, num_heads=2), "resnet": dict(blocks=(1, 1, 1), width=4),
         "text_mlp": dict(vocab_size=50), "text_rnn": dict(vocab_size=50)}


def test_pinned_parameter_counts():
    assert count_params(create_net("cnn_s")) == 2464                                   # 1x28x28 (Model Zoos)
    assert count_params(create_net("cnn_s", in_channels=3)) == 2864                    # REFERENCE: 2,864 with 3 channels
    assert count_params(create_net("cnn_m", in_channels=3, image_size=32)) == 10853    # RPG's CNN-m
    assert count_params(create_net("lenet5")) == 44426
    assert count_params(create_net("lenet5", padding=2)) == 61706


@pytest.mark.parametrize("name", available_nets())
def test_every_net_runs_and_has_a_head(name):
    net = create_net(name, **SMALL.get(name, {}))
    text = name.startswith("text") or name == "minilm_lora"          # token ids in, two classes by default
    x = torch.randint(1, 50, (3, 12)) if text else torch.randn(3, 1, 28, 28)
    out = net(x)
    assert out.shape == (3, 2 if text else 10)
    assert torch.isfinite(out).all()
    feats = head_features(net.eval(), x)
    head = dict(net.named_modules())[head_name(net)]
    assert feats.shape == (3, head.in_features)


def test_resnet_depth_is_configurable():
    a = count_params(create_net("resnet", blocks=(1, 1, 1), width=4))
    b = count_params(create_net("resnet", blocks=(2, 2, 2), width=4))
    assert b > a


def test_text_embedding_is_frozen_and_not_in_state_dict():
    net = create_net("text_mlp", vocab_size=50)
    assert all("embed" not in k for k in net.state_dict())
    assert torch.equal(create_net("text_mlp", vocab_size=50).embed.table, net.embed.table)  # same seed, same table


def test_unknown_net_and_bad_kwargs_are_clear():
    with pytest.raises(KeyError, match="unknown net 'cnn_xl'.*available: .*cnn_s"):
        create_net("cnn_xl")
    with pytest.raises(TypeError, match="cnn_s"):
        create_net("cnn_s", widht=3)
    with pytest.raises(ValueError, match="too small"):
        create_net("cnn_s", image_size=8)


def test_batchnorm_recalibration_measures_the_running_statistics_from_data():
    from workbench.nets import create_net, has_batchnorm, recalibrate_batchnorm

    torch.manual_seed(0)
    net = create_net("resnet", in_channels=1, image_size=28, num_classes=10, blocks=[1], width=2)
    X = torch.randn(64, 1, 28, 28) * 3 + 1
    bn = net[1]
    bn.running_mean.fill_(7.0), bn.running_var.fill_(0.01)                  # decoded statistics that are far off
    recalibrate_batchnorm(net, X, batches=1, batch_size=len(X))
    with torch.no_grad():
        h = net[0](X[torch.randint(len(X), (len(X),), generator=torch.Generator().manual_seed(0))])
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)   # the batch's own per-channel mean
    assert not net.training and bn.momentum == 0.1                           # back in eval mode, momentum restored
    assert has_batchnorm(net) and not has_batchnorm(create_net("cnn_s", in_channels=1, image_size=28, num_classes=10))
