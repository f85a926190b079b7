"""IGPG's open question, measured: how faithfully does the Gumbel VQ-VAE reconstruct real nets, per setting?

Collects (or reuses) a 4-architecture x 3-dataset collection (CNN-s, a 16-16 MLP, width-4 ResNets with 1 and 2 blocks
per stage; mnist5k, inverted mnist5k, digits at 28x28 held out; 3 seeds x 2 checkpoints, 8 epochs), trains only the
VQ-VAE stage for each setting given on the command line, and prints test accuracy of the originals and of their
reconstructions (training seeds and the held-out last seed) per pair, with codebook usage and perplexity; first,
the reference a learnt codebook must match: a uniform scalar quantizer of the same normalised values.

    .venv/bin/python benchmarks/igpg_reconstruction.py                       # the settings below
    .venv/bin/python benchmarks/igpg_reconstruction.py 8:1e-3:1500 1:0.05:1000:div=1   # downsample:kl_weight:steps[:hard][:div=w][:distance][:kN][:restart=N][:e=code_dim][:batch=N][:l2][:K=codebook]

Zoos go to $WORKBENCH_ZOOS (default zoos/); one setting takes 1-3 minutes on 2 CPU cores.
"""
import sys
import time

import torch

from workbench import evaluate
from workbench.collection import CollectionSpec, collect_collection
from workbench.generators.igpg.model import IGPG, IGPGConfig
from workbench.io import zoos_dir
from workbench.train import TrainConfig, fit, sampler

SPEC = {"archs": {"cnn_s": {"net": "cnn_s"}, "mlp_16x16": {"net": "mlp", "hidden": [16, 16]},
                  "resnet_1": {"net": "resnet", "blocks": [1, 1, 1], "width": 4},
                  "resnet_2": {"net": "resnet", "blocks": [2, 2, 2], "width": 4}},
        "datasets": ["mnist5k", "mnist5k_inverted", "digits28"], "held_out_datasets": ["digits28"],
        "seeds": 3, "per_seed": 2, "epochs": 8}
DEFAULT = ["8:1e-3:1500", "1:1e-3:600", "1:0.05:1000"]


def run(col, downsample: int, kl: float, steps: int, hard: bool = False, diversity: float = 0.0, logits: str = "linear",
        kernel: int = 3, restart: int = 0, code_dim: int = 64, batch: int = 256, loss: str = "l1",
        codebook: int = 256, lr: float = 2e-3) -> None:
    cfg = IGPGConfig(chunk_size=64, downsample=downsample, codebook_size=codebook, code_dim=code_dim, vq_loss=loss, vq_hidden=64,
                     vq_steps=steps, vq_batch=batch, kl_weight=kl, vq_hard=hard, diversity_weight=diversity, vq_logits=logits, vq_kernel=kernel, vq_restart=restart, image_size=64, n_layer=1, n_embd=32, n_head=2, context=32)
    gen = IGPG.from_collection(col, cfg)
    chunks = gen.training_chunks(col)
    gen.stage = "vq"
    t0 = time.perf_counter()
    hist = fit(gen, sampler({"tokens": chunks}, cfg.vq_batch), TrainConfig(steps=steps, lr=lr, device="cpu"), progress=False)
    h = gen.vq.health(chunks)
    print(f"\ndownsample={downsample} (values per code) kl_weight={kl} steps={steps} hard={hard} diversity={diversity} logits={logits} kernel={kernel} restart={restart} code_dim={code_dim} batch={batch} loss={loss} K={codebook} lr={lr}: "
          f"{time.perf_counter() - t0:.0f} s, final loss {hist[-1]['loss']:.3f}, usage {h['usage']:.2f}, "
          f"perplexity {h['perplexity']:.1f}", flush=True)
    for m in col.members():
        zoo = col.zoo(m)
        data = zoo.dataset()
        train, held = gen.split_rows(zoo, m.arch, m.dataset)
        rec = evaluate.accuracy(zoo, gen.reconstruct(m.arch, m.dataset, zoo.flat), data.X_test, data.y_test) * 100
        print(f"  {m.arch:10s} {m.dataset:17s} {m.split:16s} original {zoo.accuracies.mean() * 100:6.2f}   "
              f"reconstructed: train seeds {rec[train].mean():6.2f}, held-out seed {rec[held].mean():6.2f}", flush=True)


def uniform_reference(col, levels=(256, 64, 16)) -> None:
    """What the VQ-VAE must match: each normalised value rounded to one of `levels` evenly spaced values in [-6, 6]
    (one code per value, no learning), on the same chunks."""
    gen = IGPG.from_collection(col, IGPGConfig(chunk_size=64, downsample=1, image_size=64, n_layer=1, n_embd=32,
                                               n_head=2, context=32))
    for n in levels:
        parts = []
        for m in col.members("seen"):
            zoo = col.zoo(m)
            data = zoo.dataset()
            tok = gen.tokenizer_of(m.arch, m.dataset)
            t = tok.encode(zoo.flat, torch.float64)
            q = ((t.clamp(-6, 6) + 6) / 12 * (n - 1)).round() / (n - 1) * 12 - 6
            acc = evaluate.accuracy(zoo, tok.decode(q), data.X_test, data.y_test).mean().item() * 100
            parts.append(f"{m.arch}/{m.dataset} {zoo.accuracies.mean() * 100:.1f} -> {acc:.1f}")
        print(f"uniform scalar quantizer, {n} levels: " + "; ".join(parts), flush=True)


def main(settings: list[str]) -> None:
    col = collect_collection(CollectionSpec.from_dict(SPEC), zoos_dir() / "benchmarks" / "igpg-collection")
    if "--no-reference" not in settings:
        uniform_reference(col)
    settings = [s for s in settings if s != "--no-reference"]
    for s in settings:
        ds, kl, steps, *extra = s.split(":")
        div = next((float(e[4:]) for e in extra if e.startswith("div=")), 0.0)
        kernel = next((int(e[1:]) for e in extra if e.startswith("k") and e[1:].isdigit()), 3)
        opt = {k: int(v) for k, v in (e.split("=") for e in extra if "=" in e and not e.startswith("div="))}
        run(col, int(ds), float(kl), int(steps), "hard" in extra, div, "distance" if "distance" in extra else "linear",
            kernel, opt.get("restart", 0), opt.get("e", 64), opt.get("batch", 256), "l2" if "l2" in extra else "l1",
            opt.get("K", 256))


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
