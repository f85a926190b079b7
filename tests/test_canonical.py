"""Canonicalisation: permuting hidden units leaves every supported net's function unchanged, weight matching undoes a
permutation exactly, nets it cannot handle are refused by name, and a zoo canonicalises once (cached)."""
import pytest
import torch

from workbench import canonical as C
from workbench.layout import Layout
from workbench.nets import create_net
from workbench.zoo import Zoo
from workbench.recipes import ZooRecipe, collect

NETS = [("mlp", {"hidden": [16, 8]}), ("lenet5", {}), ("neurogen_cnn", {}), ("cnn_s", {}), ("cnn_m", {}),
        ("resnet", {"blocks": [2, 1, 2], "width": 4})]


def _with_bn_stats(net):
    sd = net.state_dict()
    for k in sd:                       # non-trivial BatchNorm statistics, so moving them along is tested
        if k.endswith("running_var"):
            sd[k] = torch.rand_like(sd[k]) + 0.5
        elif k.endswith("running_mean"):
            sd[k] = torch.randn_like(sd[k])
    net.load_state_dict(sd)
    return net.eval(), sd


@pytest.mark.parametrize("name,kw", NETS, ids=[n for n, _ in NETS])
def test_a_permuted_net_computes_the_same_logits_on_real_data_and_weight_matching_undoes_the_permutation(name, kw, digits):
    X = torch.nn.functional.interpolate(digits.X_test[:256], size=28)       # real images (sklearn digits) at 28x28
    net, sd = _with_bn_stats(create_net(name, **kw))
    spec = C.permutation_spec(name, kw)
    assert spec and all(g.size > 1 for g in spec)
    permuted = C.permute(sd, spec, C.random_perms(spec, seed=1))
    assert any(not torch.equal(permuted[k], sd[k]) for k in sd)             # the weights moved ...
    other = create_net(name, **kw).eval()
    other.load_state_dict(permuted)
    with torch.no_grad():
        assert (other(X) - net(X)).abs().max().item() <= 1e-5               # ... the function did not
    back = C.permute(permuted, spec, C.weight_matching(spec, sd, permuted))
    for k in sd:
        assert torch.equal(back[k], sd[k]), k                               # matching recovers the original exactly


@pytest.mark.parametrize("name,kw", [("vit_tiny", {"depth": 1, "embed_dim": 12, "num_heads": 2}), ("text_mlp", {})])
def test_nets_that_cannot_be_canonicalised_say_so_by_name(name, kw):
    with pytest.raises(C.NotCanonicalisable, match=name):
        C.permutation_spec(name, kw)
    assert name in C.supported(name, kw)
    assert C.supported("cnn_s", {}) is None


def test_alignment_brings_independent_nets_closer_and_keeps_their_functions():
    sds = []
    for i in range(6):
        torch.manual_seed(i)
        sds.append(create_net("cnn_s").state_dict())
    layout = Layout.from_state_dict(sds[0])
    flat = layout.flatten({k: torch.stack([s[k] for s in sds]) for k in sds[0]})
    out = C.align(C.permutation_spec("cnn_s", {}), layout, flat, flat[0])
    assert torch.equal(out[0], flat[0])                                     # the reference is its own match
    before, after = (flat[1:] - flat[0]).norm(dim=1), (out[1:] - out[0]).norm(dim=1)
    assert (after <= before + 1e-6).all() and after.mean() < before.mean()
    with pytest.raises(ValueError, match="reference"):
        C.align(C.permutation_spec("cnn_s", {}), layout, flat, flat[0, :10])


def test_a_zoo_canonicalises_once_keeps_its_accuracies_and_records_what_it_was_made_from(tmp_path, mnist_tiny):
    zoo = collect(ZooRecipe(recipe="seeds", net="cnn_s", n_checkpoints=3, epochs=1), tmp_path / "z", data=mnist_tiny,
                  progress=False)
    canon = zoo.canonical(reference=1)
    assert canon.manifest["canonical"]["of"] == zoo.fingerprint() and canon.manifest["canonical"]["reference"] == 1
    assert torch.equal(canon.flat[1], zoo.flat[1]) and not torch.equal(canon.flat, zoo.flat)
    from workbench.evaluate import accuracy

    a = accuracy(canon, canon.flat, mnist_tiny.X_test, mnist_tiny.y_test)
    assert torch.allclose(a, accuracy(zoo, zoo.flat, mnist_tiny.X_test, mnist_tiny.y_test))
    folder = tmp_path / "z.canonical-1"
    assert (folder / "manifest.json").exists()
    again = Zoo.load(tmp_path / "z").canonical(reference=1)                # a fresh object reads the cached folder
    assert again.path == folder and torch.equal(again.flat, canon.flat)
    with pytest.raises(ValueError, match="reference"):
        zoo.canonical(reference=3)
