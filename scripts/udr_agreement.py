"""Does UDR choose the β the labels would? (issue #29): UDR against the supervised scores on a study's final models.

UDR (``tfbetavae.metrics.udr``, docs/choosing-beta-without-labels.md) ranks settings from images alone; the study
scored the same models with labels (MIG, DCI disentanglement, the β-VAE score under both protocols). This script
takes every finished run of a study at its last step, computes UDR (Lasso and Spearman) per model and per setting
over its seeds, and measures how well the two agree: the Spearman rank correlation over models of UDR with each
supervised score (scipy.stats.spearmanr, with p-values), which setting each picks (highest median over seeds), and
per setting the median and range over seeds. It only reads the study folder, so it may run while the study trains:

    python scripts/udr_agreement.py --study studies/paper --hide-factors
    python scripts/udr_agreement.py --study studies/paper --dry-run          # the runs it would use, and why not others

A run is used when its ``model.keras`` exists and its scores reach the study's last step (from the run folder's own
scores file, else the study's ``results.json``); a setting needs 2 such runs (UDR compares seeds). A study whose
grid has a data axis is analysed per data set (``--data`` picks one). ``--hide-factors`` hands UDR only images: the
images UDR would draw from the data (the same generator and seed), rendered first and given as a
``tf.data.Dataset`` of images, which UDR reads each exactly once (an array would be re-drawn with replacement), so
the scores equal those computed from the data set itself. Writes into ``--out`` (default docs/udr_agreement/):

    udr_agreement.json  every number: per model and per setting, the agreement, the runs used and skipped, the
                        command and UDR's made_with record
    udr_agreement.md    the agreement table, the choices, the per-setting table and what they can and cannot show
    udr_vs_mig.png      UDR against MIG per model, coloured by setting
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfbetavae.progress import import_tensorflow_quietly  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/: the benchmark's machine description
from bench.machine import cpu_name  # noqa: E402

import_tensorflow_quietly()  # TensorFlow's start-up lines (oneDNN, CUDA, cuInit) stay hidden, as on the command line

CORRELATIONS = ("lasso", "spearman")
SUPERVISED = ("mig", "dci_disentanglement", "beta_vae_eval_accuracy", "beta_vae_paper_eval_accuracy")
ALSO_KEPT = ("reconstruction", "kl")  # kept per model in the JSON, not compared
JSON_FILE, MARKDOWN_FILE, PLOT_FILE = "udr_agreement.json", "udr_agreement.md", "udr_vs_mig.png"
LEVEL = 0.05


# --------------------------------------------------------------------------- which runs
def find_runs(study_dir: Path, plan, data_name: str) -> tuple[list[dict], list[dict]]:
    """(used, skipped) runs of one data set of the study; every skipped run says why."""
    from tfbetavae.studies.cell import read_rows

    results_path = study_dir / "results.json"
    study_rows = json.loads(results_path.read_text()) if results_path.is_file() else []
    used, skipped = [], []
    for data, setting, seed in plan.cells():
        if data != data_name:
            continue
        cell = plan.cell_name(setting, seed, data if plan.data_axis else None)
        folder = study_dir / "runs" / cell
        run = {"cell": cell, "setting": plan.labels.get(setting.key, setting.key), "seed": seed}
        rows, rows_from = (read_rows(folder) if folder.is_dir() else []), "run folder"
        if not rows:  # a study copied without its scores files: the study's collected rows
            rows, rows_from = [r for r in study_rows if r.get("cell") == cell], "results.json"
        scored = max((r["step"] for r in rows), default=None)
        final = [r for r in rows if r["step"] == plan.steps]
        if not folder.is_dir():
            skipped.append({**run, "reason": "no run folder (not started)"})
        elif not (folder / "model.keras").is_file() and final:
            skipped.append({**run, "reason": "no model.keras (scored at the last step, but the model was not kept)"})
        elif not (folder / "model.keras").is_file():
            so_far = f"scored up to step {scored}" if scored is not None else "not scored yet"
            skipped.append({**run, "reason": f"no model.keras (training unfinished: {so_far} of {plan.steps})"})
        elif not final:
            skipped.append({**run, "reason": f"no scores at the last step {plan.steps} (last scored: {scored})"})
        else:
            used.append({**run, "row": final[-1], "rows_from": rows_from})
    for label in dict.fromkeys(run["setting"] for run in used):
        members = [run for run in used if run["setting"] == label]
        if len(members) < 2:
            for run in members:
                used.remove(run)
                skipped.append({"cell": run["cell"], "setting": label, "seed": run["seed"],
                                "reason": "the only finished run of its setting (UDR compares 2 or more seeds)"})
    order = list(dict.fromkeys(run["setting"] for run in used))  # udr's order: setting by setting, as grouped
    return sorted(used, key=lambda run: (order.index(run["setting"]), run["seed"])), skipped


def describe_runs(data_name: str, used: list[dict], skipped: list[dict], planned: int) -> list[str]:
    lines = [f"{data_name}: {len(used)} of {planned} planned runs used"]
    lines += [f"  use  {run['setting']} seed {run['seed']}  ({run['cell']})" for run in used]
    lines += [f"  skip {run['setting']} seed {run['seed']}: {run['reason']}" for run in skipped]
    return lines


# --------------------------------------------------------------------------- UDR
class _Announced:
    """A model that prints a line once it has encoded all its images: udr shows a bar, a log wants lines."""

    def __init__(self, model, target: int, announce) -> None:
        self._model, self._target, self._announce, self._seen = model, target, announce, 0
        self.latent_dim, self.image_shape = model.latent_dim, model.image_shape

    def encode(self, images, return_log_variance: bool = False):
        encoded = self._model.encode(images, return_log_variance=return_log_variance)
        self._seen += len(images)
        if self._seen == self._target:
            self._announce()
        return encoded


def draw_images(data, num_points: int, seed: int):
    """The images ``udr(models, data, num_points, seed=seed)`` draws from ``data``: its own draw, done first."""
    import numpy as np

    from tfbetavae.metrics.unsupervised import image_chunks

    return np.concatenate(list(image_chunks(data, num_points, seed)), axis=0)


def load_models(study_dir: Path, used: list[dict], steps: int) -> list:
    """Each used run's final model; a model whose step counter is not the study's last step is an error."""
    from tfbetavae import load

    models = []
    for k, run in enumerate(used, 1):
        model = load(study_dir / "runs" / run["cell"] / "model.keras")
        step = int(model.step_counter.numpy())
        if step != steps:
            raise SystemExit(f"{run['cell']}: model.keras is at step {step}, not the study's last step {steps}")
        models.append(model)
        print(f"loaded {k}/{len(used)}: {run['setting']} seed {run['seed']}", flush=True)
    return models


def run_udr(models: list, used: list[dict], given, num_points: int, seed: int) -> dict:
    """{correlation: UDRResult} of the models grouped by setting, scored on ``given``."""
    from tfbetavae.metrics import udr

    results = {}
    for correlation in CORRELATIONS:
        done = [0]

        def announce(correlation=correlation, done=done):
            done[0] += 1
            print(f"UDR ({correlation}): encoded {done[0]}/{len(models)} models × {num_points} images", flush=True)

        grouped: dict[str, list] = {}
        for model, run in zip(models, used):
            grouped.setdefault(run["setting"], []).append(_Announced(model, num_points, announce))
        started = time.perf_counter()
        results[correlation] = udr(grouped, given, num_points=num_points, correlation=correlation, seed=seed,
                                   progress=False)
        if list(results[correlation].settings) != [run["setting"] for run in used]:
            raise RuntimeError("UDR's models are not in the order of the runs")  # scores would go to other runs
        print(f"UDR ({correlation}): done in {time.perf_counter() - started:.0f} s", flush=True)
    return results


# --------------------------------------------------------------------------- agreement
def rank_correlation(x: list[float], y: list[float]) -> dict:
    """Spearman's ρ and its p-value (scipy's t approximation), or why there is none."""
    from scipy.stats import spearmanr

    if len(x) < 3:
        return {"rho": None, "p": None, "n": len(x), "why_none": "fewer than 3 models"}
    if len(set(x)) < 2 or len(set(y)) < 2:
        return {"rho": None, "p": None, "n": len(x), "why_none": "one of the two is the same for every model"}
    result = spearmanr(x, y)
    return {"rho": float(result.statistic), "p": float(result.pvalue), "n": len(x)}


def picks(medians: dict[str, float]) -> list[str]:
    """The settings with the highest median (more than one on a tie)."""
    best = max(medians.values())
    return [label for label, value in medians.items() if value == best]


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "seeds": len(values)}


def agreement(used: list[dict], results: dict) -> dict:
    """Per model, per setting, the rank correlations and the choices, from the runs' rows and the UDR results."""
    supervised = [key for key in SUPERVISED if all(key in run["row"] for run in used)]
    models = []
    for k, run in enumerate(used):
        entry = {"cell": run["cell"], "setting": run["setting"], "seed": run["seed"], "step": run["row"]["step"]}
        for correlation, result in results.items():
            entry[f"udr_{correlation}"] = result.scores[k]
            entry[f"udr_a2a_{correlation}"] = result.a2a_scores[k]
            entry[f"informative_dims_{correlation}"] = list(result.informative_dims[k])
        entry.update({key: run["row"][key] for key in (*supervised, *ALSO_KEPT) if key in run["row"]})
        models.append(entry)
    labels = list(dict.fromkeys(run["setting"] for run in used))
    per_setting = {label: {} for label in labels}
    for label in labels:
        members = [m for m in models if m["setting"] == label]
        for key in [f"udr_{c}" for c in results] + supervised:
            per_setting[label][key] = summary([m[key] for m in members])
        for correlation, result in results.items():  # UDR's own per-setting record: the same median, min and max
            per_setting[label][f"udr_{correlation}"]["library"] = result.setting_scores[label]
    choices = {}
    for key in [f"udr_{c}" for c in results] + supervised:
        medians = {label: per_setting[label][key]["median"] for label in labels}
        choices[key] = {"picks": picks(medians), "medians": medians}
    correlations = {
        f"udr_{c}": {key: rank_correlation([m[f"udr_{c}"] for m in models], [m[key] for m in models])
                     for key in supervised}
        for c in results
    }
    agrees = {
        f"udr_{c}": {key: choices[f"udr_{c}"]["picks"] == choices[key]["picks"] for key in supervised}
        for c in results
    }
    return {"supervised_scores": supervised, "models": models, "per_setting": per_setting, "choices": choices,
            "rank_correlations": correlations, "same_pick": agrees}


# --------------------------------------------------------------------------- report
def label_of(key: str) -> str:
    from tfbetavae.metrics.catalogue import label

    if key.startswith("udr_"):
        return f"UDR ({'Lasso' if key == 'udr_lasso' else 'Spearman'})"
    return label(key)


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _correlation_cell(entry: dict) -> str:
    if entry["rho"] is None:
        return f"— ({entry['why_none']})"
    return f"{entry['rho']:+.2f} (p {_p(entry['p'])})"


def _range_cell(entry: dict) -> str:
    return f"{entry['median']:.3f} [{entry['min']:.3f}, {entry['max']:.3f}]"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _picked(choice: dict) -> str:
    names = choice["picks"]
    return names[0] if len(names) == 1 else f"{_join(names)} (a tie)"


def _separation(per_setting: dict, picked: list[str]) -> str:
    """Whether the seeds of UDR's pick all score above every other seed, and what that is worth with so few."""
    if len(picked) != 1 or len(per_setting) < 2:
        return ""
    best = picked[0]
    lowest = per_setting[best]["udr_lasso"]["min"]
    others = {label: entry["udr_lasso"] for label, entry in per_setting.items() if label != best}
    highest = max(entry["max"] for entry in others.values())
    n1 = per_setting[best]["udr_lasso"]["seeds"]
    n2 = min(entry["seeds"] for entry in others.values())
    smallest_p = 2 / math.comb(n1 + n2, n1)  # a two-sided Mann–Whitney test's smallest p for these counts
    if lowest > highest:
        return (f"Every seed of {best} has a higher UDR (Lasso) than every seed of the other settings ({lowest:.3f} "
                f"against at most {highest:.3f}), yet with {n1} and {n2} seeds even a complete separation gives a "
                f"two-sided Mann–Whitney p of {smallest_p:.2g} at best.")
    return (f"The seeds of {best} overlap those of other settings in UDR (Lasso) (its lowest {lowest:.3f}, their "
            f"highest {highest:.3f}).")


def interpretation(analysis: dict, planned: int) -> str:
    """One paragraph: what the numbers show, and what they cannot with this many models and seeds."""
    found = analysis["agreement"]
    n = len(found["models"])
    seeds = sorted({m["seed"] for m in found["models"]})
    counts = sorted({entry["udr_lasso"]["seeds"] for entry in found["per_setting"].values()})
    per_setting = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    choices, supervised = found["choices"], found["supervised_scores"]
    text = [f"On these {n} models ({per_setting} seeds a setting; {n} of the {planned} the study plans), UDR with "
            f"the Lasso picks {_picked(choices['udr_lasso'])} and UDR with Spearman correlations "
            f"{_picked(choices['udr_spearman'])}."]
    same = [label_of(key) for key in supervised if found["same_pick"]["udr_lasso"][key]]
    other = [f"{label_of(key)} picks {_picked(choices[key])}" for key in supervised
             if not found["same_pick"]["udr_lasso"][key]]
    if same and not other:
        text.append(f" Every supervised score's median picks {_picked(choices['udr_lasso'])} too ({_join(same)}).")
    elif supervised:
        text.append((f" {_join(same)} pick{'s' if len(same) == 1 else ''} the same; " if same else " ")
                    + f"{'; '.join(other)}.")
    separation = _separation(found["per_setting"], choices["udr_lasso"]["picks"])
    text.append(f" {separation} " if separation else " ")
    rhos = [(c, key, entry) for c, block in found["rank_correlations"].items() for key, entry in block.items()
            if entry["rho"] is not None]
    significant = [f"{label_of(c)} with {label_of(key)} (ρ {e['rho']:+.2f}, p {_p(e['p'])})"
                   for c, key, e in rhos if e["p"] < LEVEL]
    if rhos:
        low, high = min(e["rho"] for _, _, e in rhos), max(e["rho"] for _, _, e in rhos)
        text.append(f"Over models, UDR's rank correlations with the supervised scores run from {low:+.2f} to "
                    f"{high:+.2f}; ")
        text.append(f"p < {LEVEL} only for {_join(significant)}. " if significant else
                    f"none is distinguishable from no correlation at the {LEVEL} level. ")
    text.append(
        f"What this cannot show: with {per_setting} seeds a setting, each setting's median rests on {per_setting} "
        "numbers, and one more seed can change which setting a score picks, so an agreement or disagreement of "
        "picks is one observation, not a rate; the per-model UDR scores are not independent (each is the median "
        "of its pairs with the other seeds of its setting, which the seeds of one setting share), so the "
        "p-values, which assume independent models, are a guide rather than a test; a correlation over models "
        "pooled across settings mixes the differences between settings with those between seeds, so it does not "
        "say that UDR orders the seeds of one setting as the labels do; "
        f"and seeds {', '.join(map(str, seeds))} of one study on one data set say nothing about other data, other "
        "objectives or other training lengths. Duan et al. measured agreement over thousands of models; this is "
        f"{n}."
    )
    return "".join(text)


def markdown(report: dict) -> str:
    lines = ["# Does UDR choose what the labels would?", "",
             "[Docs index](../index.md) · See also: [choosing β without labels](../choosing-beta-without-labels.md)",
             "", f"Command: `{report['command']}`", "",
             f"Study `{report['study']}`, final models at step {report['step']:,}; UDR on {report['num_points']:,} "
             f"images (seed {report['seed']}), given {report['images_given']}. Written by "
             f"`scripts/udr_agreement.py` on {report['date']}; every number is in `udr_agreement.json`.", ""]
    for analysis in report["analyses"]:
        found = analysis["agreement"]
        supervised = found["supervised_scores"]
        if len(report["analyses"]) > 1:
            lines += [f"## Data: {analysis['data']}", ""]
        used, planned = len(analysis["runs_used"]), analysis["planned_runs"]
        lines += [f"**Coverage: {used} of the {planned} models the study plans.**"
                  + (" Not used, when this ran: " + "; ".join(f"{r['setting']} seed {r['seed']}, {r['reason']}"
                                                             for r in analysis["runs_skipped"]) + "."
                     if analysis["runs_skipped"] else ""), ""]
        lines += ["Spearman rank correlation over models of UDR with each supervised score (p-value, scipy's t "
                  "approximation; n = " + str(len(found["models"])) + "):", "",
                  "| | " + " | ".join(label_of(k) for k in supervised) + " |",
                  "|---|" + "---|" * len(supervised)]
        for key, block in found["rank_correlations"].items():
            lines.append(f"| {label_of(key)} | " + " | ".join(_correlation_cell(block[k]) for k in supervised) + " |")
        labels = list(found["per_setting"])
        lines += ["", "Which setting each score picks (highest median over seeds):", "",
                  "| score | picks | " + " | ".join(f"median at {label}" for label in labels) + " |",
                  "|---|---|" + "---|" * len(labels)]
        for key, choice in found["choices"].items():
            lines.append(f"| {label_of(key)} | {_join(choice['picks'])} | "
                         + " | ".join(f"{choice['medians'][label]:.3f}" for label in labels) + " |")
        keys = [f"udr_{c}" for c in CORRELATIONS if f"udr_{c}" in found["choices"]] + supervised
        lines += ["", "Per setting, median [min, max] over seeds:", "",
                  "| setting | seeds | " + " | ".join(label_of(k) for k in keys) + " |",
                  "|---|---|" + "---|" * len(keys)]
        for label, entry in found["per_setting"].items():
            lines.append(f"| {label} | {entry[keys[0]]['seeds']} | "
                         + " | ".join(_range_cell(entry[k]) for k in keys) + " |")
        lines += ["", interpretation(analysis, planned), ""]
        if used < planned:
            lines += [f"To update it once the other {planned - used} runs finish, run the same command again "
                      f"(`--dry-run` first lists the runs it will use); it reads the finished run folders only.", ""]
    lines += [f"![UDR against MIG per model]({PLOT_FILE})", ""]
    return "\n".join(lines)


def plot(report: dict, path: Path) -> Path:
    from tfbetavae.figures import figure, save_figure

    analyses = report["analyses"]
    made = figure(10, 4.2 * len(analyses))
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for row, analysis in enumerate(analyses):
        found = analysis["agreement"]
        labels = list(found["per_setting"])
        for column, correlation in enumerate(CORRELATIONS):
            axes = made.add_subplot(len(analyses), 2, 2 * row + column + 1)
            key = f"udr_{correlation}"
            for k, label in enumerate(labels):
                members = [m for m in found["models"] if m["setting"] == label]
                axes.scatter([m["mig"] for m in members], [m[key] for m in members], s=40,
                             color=colours[k % len(colours)], label=label)
            entry = found["rank_correlations"][key].get("mig")
            rho = "" if entry is None or entry["rho"] is None else f", ρ {entry['rho']:+.2f} (p {_p(entry['p'])})"
            title = f"{label_of(key)} against MIG{rho}"
            axes.set_title(title if len(analyses) == 1 else f"{analysis['data']}: {title}", fontsize=10)
            axes.set_xlabel("MIG (labels)")
            axes.set_ylabel(f"{label_of(key)} (no labels)")
            axes.grid(alpha=0.3)
            axes.legend(fontsize=8)
    made.suptitle(f"{report['study']}, step {report['step']:,}: one point per model", fontsize=11)
    made.tight_layout()
    return save_figure(made, path)


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="studies/paper", help="the study folder (only read)")
    parser.add_argument("--out", default="docs/udr_agreement", help="where the JSON, Markdown and picture go")
    parser.add_argument("--data", default=None, help="one data set of a study with a data axis (default: each)")
    parser.add_argument("--num-points", type=int, default=1000, help="images every model encodes (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of UDR's draw of images (default 0)")
    parser.add_argument("--hide-factors", action="store_true",
                        help="hand UDR only images drawn from the data (no factors anywhere in its input)")
    parser.add_argument("--dry-run", "--plan", action="store_true", help="list the runs it would use, then stop")
    args = parser.parse_args(argv)
    if args.num_points < 2:
        parser.error(f"--num-points: must be >= 2, got {args.num_points}")
    if args.seed < 0:
        parser.error(f"--seed: must be >= 0, got {args.seed}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python scripts/udr_agreement.py " + " ".join(sys.argv[1:] if argv is None else argv)
    from tfbetavae.studies import load_plan

    study_dir = Path(args.study)
    plan = load_plan(study_dir)
    names = plan.data_names
    if args.data is not None:
        if args.data not in names:
            raise SystemExit(f"--data {args.data!r}: the study's data sets are {names}")
        names = [args.data]
    found = {name: find_runs(study_dir, plan, name) for name in names}
    planned = len(plan.settings) * len(plan.seeds)
    for name, (used, skipped) in found.items():
        print("\n".join(describe_runs(name, used, skipped, planned)))
    if args.dry_run:
        return 0
    if not any(used for used, _ in found.values()):
        raise SystemExit(f"{study_dir}: no finished runs to compare (2 or more a setting at step {plan.steps})")

    import numpy as np
    import tensorflow as tf

    from tfbetavae.data.sources import resolve_data

    analyses, made_with = [], {}
    for name, (used, skipped) in found.items():
        if not used:
            print(f"{name}: no setting has 2 finished runs; left out")
            continue
        data = resolve_data(name)
        images = draw_images(data, args.num_points, args.seed)
        digest = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
        given = tf.data.Dataset.from_tensor_slices(images) if args.hide_factors else data
        started = time.perf_counter()
        models = load_models(study_dir, used, plan.steps)
        results = run_udr(models, used, given, args.num_points, args.seed)
        seconds = time.perf_counter() - started
        made_with[name] = {c: r.made_with for c, r in results.items()}
        analyses.append({
            "data": name,
            "planned_runs": planned,
            "runs_used": [{k: run[k] for k in ("cell", "setting", "seed", "rows_from")} for run in used],
            "udr_models": "udr's k-th model (labelled setting[index within its setting]) is runs_used[k]",
            "runs_skipped": skipped,
            "images_sha256": digest,
            "udr_seconds": round(seconds, 1),
            "agreement": agreement(used, results),
            "udr": {c: r.as_dict() for c, r in results.items()},
        })
    report = {
        "command": command,
        "study": Path(*study_dir.resolve().parts[-2:]).as_posix(),  # no path of this machine
        "step": plan.steps,
        "num_points": args.num_points,
        "seed": args.seed,
        "hide_factors": args.hide_factors,
        "images_given": ("only images: a tf.data.Dataset of the images drawn from the data, no factors"
                         if args.hide_factors else "the data set itself (UDR draws images from it and drops factors)"),
        "rank_correlation": "scipy.stats.spearmanr over models (p-value: t approximation, assumes independent models)",
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_name(),
        "made_with": made_with,
        "analyses": analyses,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tfbetavae.runs import atomic_write_json, atomic_write_text

    written = [atomic_write_json(report, out / JSON_FILE), atomic_write_text(markdown(report), out / MARKDOWN_FILE),
               plot(report, out / PLOT_FILE)]
    for analysis in analyses:
        for key, block in analysis["agreement"]["rank_correlations"].items():
            print(f"{analysis['data']}: {label_of(key)}: " + ", ".join(
                f"{label_of(k)} {_correlation_cell(e)}" for k, e in block.items()))
        for key, choice in analysis["agreement"]["choices"].items():
            print(f"{analysis['data']}: {label_of(key)} picks {_join(choice['picks'])}")
    print("Written: " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
