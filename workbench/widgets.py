"""Generate a network on a click: pick a method and what to generate, press *Generate*, see the net evaluated.

    from workbench.widgets import Demo
    demo = Demo()                 # preset "small": its generators are trained once (progress bar), then cached
    demo.ui                       # in JupyterLab: the widget; headless: set values and call demo.generate()

Methods:
  RPG · binary task   a checkbox per digit class: the classes ticked are the positive ones (RPG's task-conditioned
                      generator, trained on the seen codes of the task zoo; any code works, seen or not)
  RPG · zoo           one CNN-s of the last-epoch zoo
  NeuroGen            an instruction text; the same CNN-s zoo as RPG's
  IGPG                an architecture and a dataset of the preset's collection (seen or held out), a temperature
Every result shows the accuracy, the confusion matrix, the head weights beside the nearest training checkpoint's,
and the novelty numbers of the memorisation audit. *Save* writes the net as a zoo folder (safetensors + manifest)
under saves/ (git-ignored; $WORKBENCH_SAVES). The generators of the methods in `prepare` are made ready when the
demo is built, so a click costs only generating and evaluating one net.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path

import torch

from . import audit, evaluate, experiments, io, plots, presets
from .nets import head_name

METHODS = {"RPG · binary task": "rpg_task", "RPG · zoo": "rpg", "NeuroGen": "neurogen", "IGPG": "igpg"}
READY = ("rpg_task", "rpg", "neurogen")     # trained (or loaded) when the demo opens; IGPG on first choice


class Demo:
    def __init__(self, preset="small", *, seed: int = 0, prepare: tuple[str, ...] = READY):
        import ipywidgets as W

        if isinstance(preset, str) and preset not in presets.PRESETS:
            raise ValueError(f"Demo({preset!r}): unknown preset; accepted: {', '.join(presets.PRESETS)}")
        self.preset = presets.get(preset) if isinstance(preset, str) else preset
        unknown = [m for m in prepare if m not in METHODS.values()]
        if unknown:
            raise ValueError(f"Demo(prepare={unknown}): unknown methods; accepted: {', '.join(METHODS.values())}")
        self._cache: dict = {}
        self._refs: dict = {}
        self.last: dict | None = None
        self.warnings: list[str] = []    # library warnings raised while generators were made (kept, not printed)
        self.error: Exception | None = None
        self.method = W.Dropdown(options=list(METHODS.items()), value="rpg_task", description="method")
        self.classes = [W.Checkbox(value=c % 2 == 1, description=str(c), indent=False,
                                   layout=W.Layout(width="44px")) for c in range(10)]
        self.instruction = W.Textarea(value="", placeholder="empty: the instruction NeuroGen was trained with",
                                      description="instruction", layout=W.Layout(width="560px", height="60px"))
        self.arch = W.Dropdown(options=[], description="architecture")
        self.dataset = W.Dropdown(options=[], description="dataset")
        self.temperature = W.FloatSlider(value=0.7, min=0.0, max=1.0, step=0.05, description="temperature",
                                         tooltip="IGPG sampling temperature (0: greedy)")
        self.seed = W.IntText(value=seed, description="seed", layout=W.Layout(width="160px"))
        self.generate_button = W.Button(description="Generate", button_style="primary", icon="play")
        self.save_path = W.Text(value="", placeholder=f"{io.saves_dir()}/<method>-seed<seed>", description="save to",
                                layout=W.Layout(width="460px"))
        self.save_button = W.Button(description="Save", icon="save", disabled=True)
        self.banner = W.HTML(value=f"preset <b>{self.preset.name}</b>: {self.preset.purpose}")
        self.status = W.HTML(value="")
        self.accuracy = W.HTML(value="")
        self.novelty = W.HTML(value="")
        self.out = W.Output()            # progress of a generator being trained; cleared when it is ready
        self.image = W.Image(format="png", layout=W.Layout(max_width="1100px"))   # confusion + head heatmaps
        self._boxes = {"rpg_task": W.HBox(self.classes), "neurogen": self.instruction,
                       "igpg": W.HBox([self.arch, self.dataset, self.temperature]), "rpg": W.HTML("one CNN-s of the last-epoch zoo")}
        self.choice = W.VBox([self._boxes["rpg_task"]])
        self.method.observe(lambda _: self._show_choice(), names="value")
        self.generate_button.on_click(lambda _: self._run(self.generate))
        self.save_button.on_click(lambda _: self._run(self.save))
        self.ui = W.VBox([self.banner, W.HBox([self.method, self.seed]), self.choice,
                          W.HBox([self.generate_button, self.save_path, self.save_button]),
                          self.status, self.accuracy, self.novelty, self.image, self.out])
        for m in prepare:
            self._setup(m)
        self.status.value = f"ready: {', '.join(prepare) or 'nothing trained yet'} · pick a method and press Generate"

    # ---- what to generate ------------------------------------------------------------------------------------
    def _show_choice(self):
        """A new method: its inputs are shown and the previous method's result is cleared (never shown under
        another method's name)."""
        m = self.method.value
        self.choice.children = [self._boxes[m]]
        self.last = None
        self.accuracy.value = self.novelty.value = ""
        self.image.value = b""
        self.save_button.disabled = True
        self.status.value = f"<b>{m}</b>: press Generate"
        if m == "igpg" and not self.arch.options:
            self._run(lambda: self._setup("igpg"))

    def code(self) -> torch.Tensor:
        """The 10-bit task code of the ticked classes."""
        code = torch.tensor([int(c.value) for c in self.classes])
        if code.sum() in (0, len(code)):
            raise ValueError("tick at least one class and leave at least one unticked: a binary task needs both labels")
        return code

    # ---- generators: trained on first use, then reloaded from experiments' cache --------------------------------
    def _setup(self, m: str) -> dict:
        if m in self._cache:
            return self._cache[m]
        p = self.preset
        self.status.value = f"<b>{m}</b>: loading or training its generator (first use; progress below) ..."
        with self._quiet():
            self._cache[m] = self._build(m, p)
        return self._cache[m]

    @contextlib.contextmanager
    def _quiet(self):
        """Progress bars of a generator being made show in the output area and are cleared once it is ready;
        library warnings raised meanwhile are kept on `demo.warnings`, not printed under the widget."""
        with self.out, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                self.warnings += [str(w.message) for w in caught]
        self.out.clear_output()

    def _build(self, m: str, p) -> dict:
        """The generator of method m (trained, or reloaded from experiments' cache) and its reference zoo."""
        if m == "rpg_task":
            zoo = p.zoo("tasks")
            gen, info, seen, _ = experiments.task_generator(zoo, p)
            ref = zoo.subset(seen)
        elif m == "igpg":
            col = p.load_collection()
            gen, info = experiments.trained("igpg", col, p)
            self.arch.options = list(col.archs)
            self.dataset.options = list(col.datasets)
            self.temperature.value = gen.config.temperature
            return {"gen": gen.eval(), "col": col, "info": info}
        else:
            zoo = p.zoo("last_epoch", "cnn_s")
            gen, info = experiments.trained(m, zoo, p)
            ref = zoo
        self._reference(ref, zoo.dataset().X_test)           # the training checkpoints' predictions, once
        return {"gen": gen.eval(), "zoo": zoo, "ref": ref, "info": info}

    # ---- generate, evaluate, show -------------------------------------------------------------------------------
    def generate(self) -> dict:
        """Generate one net for the current choice, evaluate it, fill the widgets; returns the numbers shown."""
        from .data.tasks import binary_labels

        m, seed = self.method.value, int(self.seed.value)
        s = self._setup(m)
        gen = s["gen"]
        t0 = time.perf_counter()
        if m == "rpg_task":
            code = self.code()
            zoo, ref = s["zoo"], s["ref"]
            flat = gen.generate(1, seed=seed, codes=code)
        elif m == "igpg":
            member = s["col"].member(self.arch.value, self.dataset.value)
            zoo = ref = s["col"].zoo(member)
            code = None
            flat = gen.generate(1, seed=seed, arch=self.arch.value, dataset=self.dataset.value,
                                temperature=float(self.temperature.value))
        else:
            zoo, ref, code = s["zoo"], s["ref"], None
            kw = {"instruction": self.instruction.value} if m == "neurogen" and self.instruction.value.strip() else {}
            flat = gen.generate(1, seed=seed, **kw)
        gen_s = time.perf_counter() - t0
        data = zoo.dataset()
        y = data.y_test if code is None else binary_labels(data.y_test, code)
        pred = evaluate.predict(zoo, flat, data.X_test)[0]
        acc = (pred == y).double().mean().item() * 100
        pred_ref, scale, train_d = self._reference(ref, data.X_test)
        ref_acc = (pred_ref == y).double().mean(1) * 100
        iou = evaluate.iou_matrix((pred != y)[None], pred_ref != y)[0]
        d = evaluate.pairwise_distances(flat.double() / scale, ref.flat.double() / scale)[0]
        near = int(d.argmin())
        k = int(y.max().item()) + 1
        conf = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k)
        self.last = {"method": m, "seed": seed, "flat": flat, "zoo": zoo, "code": code, "gen": gen,
                     "accuracy": acc, "nearest_accuracy": ref_acc[near].item(),
                     "max_iou": iou.max().item(), "dist_nearest": d[near].item(), "train_dist_nearest": train_d,
                     "nearest": near, "confusion": conf, "generate_s": gen_s}
        self._show(zoo, ref, flat, near)
        self.last["seconds"] = time.perf_counter() - t0
        self.accuracy.value = (f"<b>accuracy {acc:.2f} %</b> (its nearest training checkpoint: {ref_acc[near]:.2f} %) · "
                               f"generated in {gen_s:.2f} s, evaluated and shown in {self.last['seconds']:.2f} s")
        inaccurate = acc < audit.ACCURACY_FLOOR * ref_acc.mean().item()   # the audit's floor: no novelty claim
        self.last["verdict"] = "inaccurate" if inaccurate else ("a copy" if d[near] < 1e-6 else "")
        self.novelty.value = (("<b>inaccurate</b> (below {:.0f} % of the training checkpoints' mean accuracy): no "
                               "novelty verdict · ".format(audit.ACCURACY_FLOOR * 100) if inaccurate else "") +
                              f"novelty: max wrong-prediction IoU to a training checkpoint {iou.max():.3f}; distance to "
                              f"the nearest one {d[near]:.3g} (training checkpoints to each other: {train_d:.3g} "
                              f"median){' — <b>a copy</b>' if d[near] < 1e-6 else ''}")
        self.status.value = f"<b>{m}</b>: done"
        self.save_button.disabled = False
        return {k: v for k, v in self.last.items() if k not in ("flat", "zoo", "gen")}

    def _reference(self, ref, X):
        """Predictions, per-key scale and training-to-training distance of the training checkpoints: computed once
        per zoo (1,002 task heads take seconds), then every click only evaluates the new net."""
        key = (id(ref), ref.fingerprint())
        if key not in self._refs:
            scale = audit.key_scale(ref).double()
            self._refs[key] = (evaluate.predict(ref, ref.flat, X), scale,
                               evaluate.median(evaluate.nearest_other(ref.flat.double() / scale)))
        return self._refs[key]

    def _show(self, zoo, ref, flat, near):
        head = head_name(zoo.build_net()) + ".weight"
        gen_w = zoo.unflatten(flat)[head][0]
        ref_w = ref.unflatten(ref.flat[near: near + 1])[head][0]
        import matplotlib.pyplot as plt

        with plt.rc_context(plots.STYLE):
            fig, ax = plt.subplots(1, 3, figsize=(12, 3.2), gridspec_kw={"width_ratios": [1, 2, 2]})
        conf = self.last["confusion"].numpy()
        gen_w, ref_w = gen_w.numpy(), ref_w.numpy()
        ax[0].imshow(conf, cmap="Blues")
        for i in range(conf.shape[0]):
            for j in range(conf.shape[1]):                  # white on dark cells, dark on light: readable counts
                ax[0].text(j, i, int(conf[i, j]), ha="center", va="center", fontsize=10 if len(conf) <= 4 else 8,
                           color="white" if conf[i, j] > conf.max() / 2 else "#222")
        ax[0].set(title="confusion", xlabel="predicted", ylabel="true", xticks=range(conf.shape[0]),
                  yticks=range(conf.shape[0]))
        lim = float(max(abs(gen_w).max(), abs(ref_w).max())) or 1.0
        for a, w, t in ((ax[1], gen_w, "generated head"), (ax[2], ref_w, f"nearest training checkpoint (#{near})")):
            im = a.imshow(w, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
            a.set(title=t, xlabel="input feature", ylabel="class", yticks=range(w.shape[0]))
            a.grid(False)
        fig.colorbar(im, ax=ax[2], fraction=0.04)
        ax[0].grid(False)
        import io as _io

        buf = _io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        self.image.value = buf.getvalue()      # a PNG in an Image widget: shows in JupyterLab and is testable headless
        plots.close(fig)

    def save(self, folder: str | Path | None = None) -> Path:
        """Write the last generated net as a zoo folder (params.safetensors + manifest naming generator and seed)."""
        if self.last is None:
            raise RuntimeError("nothing generated yet: press Generate first")
        L = self.last
        folder = Path(folder or self.save_path.value or io.saves_dir() / f"{L['method']}-seed{L['seed']}")
        one = L["zoo"].generated(L["flat"], generator=L["gen"], seed=L["seed"],
                                 codes=None if L["code"] is None else L["code"][None])
        path = one.save(folder)
        self.status.value = f"saved to <code>{path}</code>"
        return path

    def _run(self, fn):
        """Button callbacks: an error is shown in the status line (what to do), never lost in a log."""
        try:
            self.generate_button.disabled = True
            return fn()
        except Exception as e:       # shown to the person clicking; the traceback stays available on demo.error
            self.error = e
            self.status.value = f"<span style='color:#b00'><b>{type(e).__name__}</b>: {e}</span>"
        finally:
            self.generate_button.disabled = False
