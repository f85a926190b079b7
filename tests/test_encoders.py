"""Conditioning encoders: the offline pretrained defaults load by real code and carry meaning; bad names fail fast."""
import pytest
import torch

from workbench.data import load_dataset
from workbench.encoders import (dataset_embedding, describe_architecture, efficientnet_lite0, image_encoder,
                                text_encoder)


@pytest.fixture(scope="module")
def lite0():
    return efficientnet_lite0(size=96)


@pytest.fixture(scope="module")
def minilm():
    return text_encoder()


def test_efficientnet_lite0_is_the_pretrained_imagenet_net(lite0):
    import timm

    fresh = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    assert lite0.dim == 1280
    w = lite0.model.conv_stem.weight
    assert not torch.allclose(w, fresh.conv_stem.weight)           # loaded, not a random init
    bn = lite0.model.bn1
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))   # trained statistics came along


def test_dataset_embeddings_tell_datasets_apart(lite0):
    digits = load_dataset("digits", image_size=28)
    mnist = load_dataset("mnist5k", max_train=200, max_test=50)
    a, a2 = dataset_embedding(digits, lite0), dataset_embedding(digits, lite0, seed=1)
    b = dataset_embedding(mnist, lite0)
    assert a.shape == (1280,) and torch.isfinite(a).all()
    cos = torch.nn.functional.cosine_similarity
    assert cos(a, a2, dim=0) > cos(a, b, dim=0)                       # other images of the same data: closer


def test_minilm_embeds_architecture_descriptions_meaningfully(minilm):
    s = describe_architecture("resnet", {"blocks": [1, 1, 1], "width": 8, "num_classes": 10})
    assert "parameters" in s and "conv 1->8" in s
    texts = [describe_architecture("resnet", {"blocks": [2, 2, 2], "width": 8}),
             describe_architecture("resnet", {"blocks": [3, 3, 3], "width": 8}),
             describe_architecture("mlp", {"hidden": [64, 64]})]
    e = minilm.embed(texts)
    assert e.shape == (3, 384)
    cos = torch.nn.functional.cosine_similarity
    assert cos(e[0], e[1], dim=0) > cos(e[0], e[2], dim=0)            # two ResNets are closer than a ResNet and an MLP
    p = minilm.embed(["a photo of a cat", "a picture of a kitten", "quarterly tax revenue statistics"])
    assert cos(p[0], p[1], dim=0) > cos(p[0], p[2], dim=0) + 0.2      # pretrained: the words carry meaning


def test_names_that_cannot_load_offline_fail_at_once_with_what_to_do():
    with pytest.raises(OSError, match="pass the path of a local folder"):
        text_encoder("meta-llama/Meta-Llama-3-8B-Instruct")
    with pytest.raises(KeyError, match="efficientnet_lite0"):
        image_encoder("resnet9000")
