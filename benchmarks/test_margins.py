"""Margins of the learned-quality tests: each test that asserts a trained quantity records it (the `measured`
fixture in tests/conftest.py); this script runs those tests for several seeds under several CPU instruction sets
(`ATEN_CPU_CAPABILITY`) and prints, per quantity, its threshold, every measured value and the worst margin.

    python benchmarks/test_margins.py                    # seeds 0 1 2 x {default, avx2, this machine's own}
    python benchmarks/test_margins.py --seeds 0 1 --isa default

margin: "lower is better" quantities: threshold / value; "higher is better": (value - chance) / (threshold - chance).
Writes reports/test_margins.{json,md}. Run it alone on the machine (timings of other jobs do not matter, but two
torch processes side by side slow each other several-fold).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# every test that asserts a trained quantity (a loss ratio, an accuracy, a reconstruction)
LEARNED = [
    "tests/test_zoo.py::test_last_epoch_zoo_layout_and_accuracy",
    "tests/test_zoo.py::test_tasks_zoo_heads_on_shared_backbone",
    "tests/test_zoo.py::test_bring_your_own_tensors",
    "tests/test_zoo.py::test_tasks_zoo_whole_nets",
    "tests/test_byo.py::test_tabular_data_sizes_the_mlp_by_itself",
    "tests/test_igpg_parts.py::test_vqvae_learns_to_reconstruct_chunks_and_reports_codebook_health",
    "tests/test_igpg_parts.py::test_prior_learns_windows_of_a_long_sequence_conditioned_on_its_prefix",
    "tests/test_neurogen.py::test_stage_one_pulls_the_generated_vector_to_the_references",
]


def own_isa() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability().lower()


def run(seed: int, isa: str, tests: list[str]) -> dict:
    """{(test, quantity): record} from one pytest run of `tests` at `seed` under `isa`."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        env = {**os.environ, "WORKBENCH_TEST_SEED": str(seed), "ATEN_CPU_CAPABILITY": isa, "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
        res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                              "-o", "junit_family=xunit1", *tests], cwd=ROOT, env=env, capture_output=True, text=True)
        out = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            for prop in case.iter("property"):
                rec = json.loads(prop.get("value").replace("'", '"'))
                out[(case.get("name"), prop.get("name"))] = {**rec, "failed": failed}
        if res.returncode not in (0, 1):
            print(res.stdout[-2000:], res.stderr[-2000:], file=sys.stderr)
        return out


def margin(rec: dict) -> float:
    v, t, c = rec["value"], rec["threshold"], rec.get("chance", 0.0)
    if rec["better"] == "lower":
        return t / v if v > 0 else float("inf")
    return (v - c) / (t - c)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--isa", nargs="+", default=None, help="ATEN_CPU_CAPABILITY values (default: default avx2 own)")
    ap.add_argument("-k", default=None, help="only the learned tests whose id contains this")
    a = ap.parse_args(argv)
    isas = list(dict.fromkeys(a.isa or ["default", "avx2", own_isa()]))
    tests = [t for t in LEARNED if a.k is None or a.k in t]
    table: dict = {}
    for isa in isas:
        for seed in a.seeds:
            print(f"[margins] seed {seed}, ATEN_CPU_CAPABILITY={isa} ...", flush=True)
            for key, rec in run(seed, isa, tests).items():
                table.setdefault(key, []).append({"seed": seed, "isa": isa, **rec})
    rows = []
    for (test, name), recs in table.items():
        worst = min(recs, key=margin)
        rows.append({"test": test, "quantity": name, "better": recs[0]["better"], "threshold": recs[0]["threshold"],
                     "chance": recs[0].get("chance", 0.0), "values": {f"{r['isa']}/s{r['seed']}": round(r["value"], 4)
                                                                       for r in recs},
                     "worst": worst["value"], "worst_margin": margin(worst), "failed": any(r["failed"] for r in recs)})
    md = ["| test | quantity | threshold | measured (isa/seed) | worst | margin |", "|---|---|---|---|---|---|"]
    for r in rows:
        vals = ", ".join(f"{k} {v:.3f}" for k, v in r["values"].items())
        md.append(f"| {r['test']} | {r['quantity']} ({r['better']} is better) | {r['threshold']:.3f} | {vals} | "
                  f"{r['worst']:.3f} | {r['worst_margin']:.2f}x{' FAILED' if r['failed'] else ''} |")
    print("\n".join(md))
    sys.path.insert(0, str(ROOT))
    from workbench import io
    from workbench.reporting import environment

    env = environment()
    out = io.reports_dir()
    io.write_json(out / "test_margins.json", {"rows": rows, "seeds": a.seeds, "isas": isas, "environment": env})
    head = (f"torch {env['packages'].get('torch')}, {env['cpu']}, commit {str(env.get('git_commit'))[:7]}"
            f"{' (dirty)' if env.get('git_dirty') else ''}")
    io.atomic_write_text(out / "test_margins.md", f"# Learned-quality test margins ({head})\n\n"
                         "Written by `python benchmarks/test_margins.py`.\n\n" + "\n".join(md) + "\n")
    return 1 if any(r["worst_margin"] < 2 for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
