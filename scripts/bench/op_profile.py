"""Section ``profile`` (issue #33): where a training step's time goes, piece by piece, for the library and for
PyTorch, under each instruction set.

At batch 64 on 64×64×1 images (float32, the default network), each piece is timed on its own, the library's as
tf.functions and PyTorch's as plain calls: the encoder's forward pass, the decoder's, the loss from their outputs
(posterior sample, Bernoulli log-likelihood, KL), the forward pass with the loss, the same with the gradients (the
backward pass is the difference of the two), Adam's update with fixed gradients, and the whole train step. In the
same child, TensorFlow's profiler times a few train steps op by op, and PyTorch's profiler its own, summarised to
the top op types. A second child runs a few steps with ``ONEDNN_VERBOSE=1``: oneDNN then names every kernel it ran,
with its instruction set and time. A TensorFlow op type that is not ``_Mkl…`` ran on Eigen (built for AVX, so no cap
changes it).
"""

from __future__ import annotations

import collections
import ctypes
import os
import sys
import tempfile
import time
from pathlib import Path

from . import torch_model
from .children import CAPS, NATIVE, isa_environment, run_child
from .config import BATCH_SIZE
from .machine import cpu
from .measure import load, median, summary, timed
from .models import make_images, make_model

PIECES = ("encoder_forward", "decoder_forward", "loss", "forward_and_loss", "forward_loss_backward", "adam",
          "train_step")
TOP_OPS = 12
MARK = "#bench-profile "  # a line the verbose child writes between phases: "#bench-profile SIDE PHASE"


# ----------------------------------------------------------------------------------------------- the pieces
def library_pieces(images) -> tuple[dict, dict, object]:
    """name -> call of each piece of the library's train step (tf.functions on a fixed batch), the check that the
    loss piece is the library's loss, and the whole train step (for the op table)."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    from tfbetavae.model import LOG_VARIANCE_RANGE

    model = make_model("tf_function")
    model.optimizer.build(model.trainable_variables)
    variables = model.trainable_variables
    x = tf.constant(images)
    encoder = tf.function(lambda x: model.encoder(x, training=True))
    decoder = tf.function(lambda codes: model.decoder(codes, training=True))

    @tf.function
    def loss(x, moments, logits):
        """``compute_terms``' loss from the networks' outputs: the calls of ``vae_terms`` without the networks
        (private methods on purpose: this must be the library's own code path, checked below)."""
        mean, log_variance = model._split_moments(moments)
        posterior = model._gaussian(mean, tf.clip_by_value(log_variance, *LOG_VARIANCE_RANGE))
        codes = posterior.sample(seed=model.sampling_seed(0))
        likelihood = model._likelihood_from_params(logits)
        kl = tfp.distributions.kl_divergence(posterior.distribution, model.prior.distribution)
        return -tf.reduce_mean(likelihood.log_prob(x)) + model.beta * tf.reduce_mean(tf.reduce_sum(kl, -1)), codes

    forward_and_loss = tf.function(lambda x: model.compute_terms(x, training=True)["loss"])

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            value = model.compute_terms(x, training=True)["loss"]
        return tape.gradient(value, variables)

    # Before any step moves the step counter (the noise's seed) or the weights: the loss piece on the networks'
    # outputs must equal the library's loss on the images.
    moments = encoder(x)
    _, codes = loss(x, moments, decoder(tf.zeros((BATCH_SIZE, model.latent_dim))))
    logits = decoder(codes)
    piece, library = float(loss(x, moments, logits)[0]), float(forward_and_loss(x))
    if abs(piece - library) > 1e-4 * max(1.0, abs(library)):
        raise RuntimeError(f"the loss piece ({piece}) is not the library's loss ({library})")
    fixed = gradients(x)
    adam = tf.function(lambda: model.optimizer.apply_gradients(zip(fixed, variables)))
    train_step = tf.function(model.train_step)
    pieces = {
        "encoder_forward": lambda: encoder(x),
        "decoder_forward": lambda: decoder(codes),
        "loss": lambda: loss(x, moments, logits),
        "forward_and_loss": lambda: forward_and_loss(x),
        "forward_loss_backward": lambda: gradients(x),
        "adam": adam,
        "train_step": lambda: train_step(x),
    }
    return pieces, {"loss_piece": piece, "library_loss": library}, pieces["train_step"]


def torch_pieces(images, threads: int, channels_last: bool) -> dict:
    """The same pieces for the PyTorch baseline (forward passes with autograd on, as in training)."""
    import torch

    trainer = torch_model.make_trainer(threads, channels_last)
    x = trainer.batch(images)
    with torch.no_grad():
        moments = trainer.encoder(x)
        codes = moments.chunk(2, dim=1)[0].contiguous()
        logits = trainer.decoder(codes)

    def forward_loss_backward():
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.loss_of(x).backward()

    forward_loss_backward()  # Adam needs gradients
    return {
        "encoder_forward": lambda: trainer.encoder(x),
        "decoder_forward": lambda: trainer.decoder(codes),
        "loss": lambda: trainer.loss_of(x, encoder=lambda _: moments, decoder=lambda _: logits),
        "forward_and_loss": lambda: trainer.loss_of(x),
        "forward_loss_backward": forward_loss_backward,
        "adam": trainer.optimizer.step,
        "train_step": lambda: trainer.step(x),
    }


def time_pieces(sides: dict, calls: int, rounds: int) -> dict:
    """side -> piece -> ms per call, wall time and this process's CPU time (summaries over rounds; every piece of
    every side in each round), with the backward pass derived per round as (forward + loss + gradients) − (forward +
    loss). On a shared machine the wall time stretches with the other work; the CPU time much less."""
    for pieces in sides.values():
        for call in pieces.values():
            call(), call()  # trace and warm up
    wall = {side: {name: [] for name in pieces} for side, pieces in sides.items()}
    cpu_time = {side: {name: [] for name in pieces} for side, pieces in sides.items()}
    for _ in range(rounds):
        for side, pieces in sides.items():
            for name, call in pieces.items():
                start = time.process_time()
                wall[side][name].append(timed(call, calls) / calls * 1e3)
                cpu_time[side][name].append((time.process_time() - start) / calls * 1e3)
    result = {}
    for side in sides:
        row = {}
        for name in sides[side]:
            row[name] = {**summary(wall[side][name], "ms"), "cpu_ms": median(cpu_time[side][name]),
                         "cpu_best": min(cpu_time[side][name])}
        both, forward = wall[side]["forward_loss_backward"], wall[side]["forward_and_loss"]
        cpu_both, cpu_forward = cpu_time[side]["forward_loss_backward"], cpu_time[side]["forward_and_loss"]
        row["backward"] = {
            "ms": median([a - b for a, b in zip(both, forward)]),
            "best": min(both) - min(forward),
            "cpu_ms": median([a - b for a, b in zip(cpu_both, cpu_forward)]),
            "cpu_best": min(cpu_both) - min(cpu_forward),
            "derived": "forward_loss_backward - forward_and_loss",
        }
        row["parts_vs_train_step"] = (min(both) + min(wall[side]["adam"])) / min(wall[side]["train_step"])
        result[side] = row
    return result


# ----------------------------------------------------------------------------------------------- op tables
def summarise_xspace(space, steps: int, top: int = TOP_OPS) -> dict:
    """TensorFlow's profile (an XSpace) as op types by time per step. An op event's name is ``scope/name:Type``
    with ``Type`` its display name; oneDNN ops are the ``_Mkl…`` types, everything else ran on Eigen or plain TF."""
    totals, counts = collections.Counter(), collections.Counter()
    for plane in space.planes:
        metadata = plane.event_metadata
        for line in plane.lines:
            for event in line.events:
                kind = metadata[event.metadata_id].display_name
                if kind and metadata[event.metadata_id].name.endswith(":" + kind):
                    totals[kind] += event.duration_ps
                    counts[kind] += 1
    total = sum(totals.values()) or 1
    onednn = sum(value for kind, value in totals.items() if kind.startswith("_Mkl"))
    return {
        "steps": steps,
        "op_ms_per_step": total / 1e9 / steps,
        "onednn_share": onednn / total,
        "top": [
            {"op": kind, "kernel": "oneDNN" if kind.startswith("_Mkl") else "Eigen/TF", "ms_per_step": value / 1e9 / steps,
             "share": value / total, "calls_per_step": counts[kind] / steps}
            for kind, value in totals.most_common(top)
        ],
    }


def tf_op_table(function, steps: int) -> dict:
    """``steps`` calls of ``function`` under TensorFlow's profiler, summarised by op type."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as folder:
        tf.profiler.experimental.start(folder)
        try:
            for _ in range(steps):
                function()
        finally:
            tf.profiler.experimental.stop()
        files = sorted(Path(folder).rglob("*.xplane.pb"))
        if not files:
            return {"status": "skipped", "reason": "TensorFlow's profiler wrote no trace"}
        space = xplane_pb2.XSpace()
        space.ParseFromString(files[-1].read_bytes())
    return summarise_xspace(space, steps)


def torch_op_table(function, steps: int, top: int = TOP_OPS) -> dict:
    """``steps`` calls of ``function`` under PyTorch's profiler, summarised by op (self time: children excluded)."""
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            function()
    rows = [(event.key, event.self_cpu_time_total, event.count) for event in profiler.key_averages()]
    total = sum(row[1] for row in rows) or 1
    return {
        "steps": steps,
        "op_ms_per_step": total / 1e3 / steps,
        "top": [{"op": key, "ms_per_step": value / 1e3 / steps, "share": value / total, "calls_per_step": count / steps}
                for key, value, count in sorted(rows, key=lambda row: -row[1])[:top]],
    }


# ----------------------------------------------------------------------------------------------- oneDNN's log
def parse_onednn_verbose(text: str, steps: int) -> dict:
    """side -> the instruction set its oneDNN reported and the kernels it ran during the marked steps.

    Lines: ``onednn_verbose[,v1],primitive,exec,cpu,KIND,IMPLEMENTATION,PROP_KIND,…,PROBLEM,MS`` (one a run of a
    kernel) and ``onednn_verbose[,v1],info,cpu,isa:NAME`` (once a library: TensorFlow and PyTorch each bundle one).
    """
    side, phase, sides = None, None, {}
    for line in text.splitlines():
        if line.startswith(MARK):
            side, phase = line[len(MARK):].split()[:2]
            side = None if side == "end" else side
            if side:
                sides.setdefault(side, {"isa": None, "version": None,
                                        "kernels": collections.defaultdict(lambda: [0, 0.0])})
            continue
        if side is None or not line.startswith("onednn_verbose"):
            continue
        parts = line.split(",")
        if "info" in parts and any(part.startswith("isa:") for part in parts):
            sides[side]["isa"] = next(part for part in parts if part.startswith("isa:"))[4:]
        elif "info" in parts and any(part.startswith("oneDNN v") for part in parts):
            sides[side]["version"] = next(part for part in parts if part.startswith("oneDNN v")).split()[1]
        elif phase == "steps" and "exec" in parts:
            at = parts.index("exec")
            if parts[at - 1] != "primitive" or len(parts) < at + 6:
                continue
            try:
                milliseconds = float(parts[-1])
            except ValueError:
                continue
            entry = sides[side]["kernels"][tuple(parts[at + 2 : at + 5]) + (parts[-2],)]
            entry[0] += 1
            entry[1] += milliseconds
    result = {}
    for name, found in sides.items():
        if name.startswith("pytorch") and not found["isa"]:  # PyTorch's layouts share one oneDNN, which says it once
            told = next((other for key, other in sides.items() if key.startswith("pytorch") and other["isa"]), {})
            found["isa"], found["version"] = told.get("isa"), told.get("version")
        kernels = sorted(found["kernels"].items(), key=lambda item: -item[1][1])
        by_implementation = collections.Counter()
        for (kind, implementation, prop, _), (_, milliseconds) in kernels:
            by_implementation[f"{kind} {implementation} {prop}"] += milliseconds / steps
        result[name] = {
            "isa": found["isa"],
            "version": found["version"],
            "ms_per_step": sum(value[1] for _, value in kernels) / steps,
            "kernels_per_step": sum(value[0] for _, value in kernels) / steps,
            "reference_kernels": sorted({key[1] for key, _ in kernels if key[1].startswith("ref")}),
            "by_implementation": dict(by_implementation.most_common()),
            "kernels": [
                {"kind": kind, "implementation": implementation, "prop_kind": prop, "problem": problem,
                 "calls_per_step": count / steps, "ms_per_step": milliseconds / steps}
                for (kind, implementation, prop, problem), (count, milliseconds) in kernels
            ],
        }
    return result


def same_kernels(library: dict, pytorch: dict) -> list[dict]:
    """The oneDNN primitives both sides ran on the same problem (the encoder's convolutions: same kind, direction
    and shapes), ms per call each: the same work, so a difference is the kernel or how it is called, not the model."""
    def per_call(side):
        return {(k["kind"], k["prop_kind"], k["problem"]): k for k in side["kernels"] if k["kind"] != "reorder"}

    mine, theirs = per_call(library), per_call(pytorch)
    rows = []
    for key in sorted(set(mine) & set(theirs), key=lambda key: -mine[key]["ms_per_step"]):
        a, b = mine[key], theirs[key]
        rows.append({
            "kind": key[0], "prop_kind": key[1], "problem": key[2],
            "library_implementation": a["implementation"], "pytorch_implementation": b["implementation"],
            "library_ms_per_call": a["ms_per_step"] / a["calls_per_step"],
            "pytorch_ms_per_call": b["ms_per_step"] / b["calls_per_step"],
        })
    return rows


def _mark(text: str) -> None:
    """Writes a marker line to standard output after everything oneDNN (C's stdio) and Python buffered."""
    sys.stdout.flush()
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os.write(1, f"{MARK}{text}\n".encode())


# ----------------------------------------------------------------------------------------------- children
def torch_sides(context, images) -> tuple[dict, dict]:
    """side -> pieces for each PyTorch layout, and PyTorch's info (or why it is skipped)."""
    reason = torch_model.missing() if context.with_torch else "disabled with --no-torch"
    if reason:
        return {}, torch_model.skipped(reason)
    import torch

    sides = {f"pytorch_{layout}": torch_pieces(images, context.threads, channels_last)
             for layout, channels_last in torch_model.LAYOUTS.items()}
    return sides, {**torch_model.info(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def child(context) -> dict:
    """In a child process: every piece timed, then the op tables."""
    cfg = context.cfg
    images = make_images(BATCH_SIZE)
    library, check, train_step = library_pieces(images)
    sides, torch_info = torch_sides(context, images)
    sides = {"library": library, **sides}
    context.log(f"  pieces ready, load {load()}")
    result = {
        "caps": {name: os.environ.get(name) for name in CAPS},
        "calls": cfg["profile_calls"],
        "rounds": cfg["profile_rounds"],
        "loss_check": check,
        "pytorch": torch_info,
        "sides": time_pieces(sides, cfg["profile_calls"], cfg["profile_rounds"]),
        "tf_ops": tf_op_table(train_step, cfg["profile_trace_steps"]),
    }
    result["torch_ops"] = {side: torch_op_table(pieces["train_step"], cfg["profile_trace_steps"])
                           for side, pieces in sides.items() if side != "library"}
    return result


def verbose_child(context) -> dict:
    """In a child started with ``ONEDNN_VERBOSE=1``: a few train steps of each side between marker lines (each side
    is made after its first marker, so the line in which its oneDNN names its instruction set falls in its part)."""
    import tensorflow as tf

    images = make_images(BATCH_SIZE)
    steps = context.cfg["profile_verbose_steps"]
    reason = torch_model.missing() if context.with_torch else "disabled with --no-torch"
    layouts = {} if reason else torch_model.LAYOUTS
    for side in ("library", *(f"pytorch_{layout}" for layout in layouts)):
        _mark(f"{side} setup")
        if side == "library":
            model = make_model("tf_function")
            step, batch = tf.function(model.train_step), tf.constant(images)
        else:
            trainer = torch_model.make_trainer(context.threads, layouts[side.removeprefix("pytorch_")])
            step, batch = trainer.step, trainer.batch(images)
        step(batch), step(batch)  # trace, create the kernels, warm up
        _mark(f"{side} steps")
        for _ in range(steps):
            step(batch)
    _mark("end -")
    return {"steps": steps, "pytorch": torch_model.skipped(reason) if reason else "measured"}


# ----------------------------------------------------------------------------------------------- the section
def fastest_pytorch(sides: dict) -> str | None:
    """The PyTorch layout whose whole train step was quickest (the strongest baseline)."""
    names = [side for side in sides if side.startswith("pytorch")]
    return min(names, key=lambda side: sides[side]["train_step"]["best"]) if names else None


def bench_profile(cfg: dict, isas, with_torch: bool, threads: int, quick: bool, log) -> dict:
    """Two children per instruction set (the timings, then oneDNN's log), and the ratios between them."""
    result = {"cpu": cpu(), "batch_size": BATCH_SIZE, "precision": "float32", "isas": list(isas), "by_isa": {}}
    args = ["--threads", str(threads), *([] if with_torch else ["--no-torch"])]
    for isa in isas:
        caps = isa_environment(isa)
        log(f"  {isa}: timing child{' with ' + ', '.join(f'{k}={v}' for k, v in caps.items()) if caps else ''}, "
            f"load {load()}")
        numbers, _ = run_child("profile", caps, quick, args)
        log(f"  {isa}: oneDNN verbose child, load {load()}")
        verbose, text = run_child("onednn", {**caps, "ONEDNN_VERBOSE": "1"}, quick, args)
        numbers["onednn"] = parse_onednn_verbose(text, verbose["steps"])
        numbers["pytorch_baseline"] = fastest_pytorch(numbers["sides"])
        if numbers["pytorch_baseline"] in numbers["onednn"]:
            numbers["same_kernels"] = same_kernels(numbers["onednn"]["library"],
                                                   numbers["onednn"][numbers["pytorch_baseline"]])
        result["by_isa"][isa] = numbers
    def ratios(top, bottom, key):
        return {piece: top[piece][key] / bottom[piece][key] for piece in (*PIECES, "backward")}

    native = result["by_isa"].get(NATIVE)
    for isa, numbers in result["by_isa"].items():
        sides, torch_side = numbers["sides"], numbers["pytorch_baseline"]
        for suffix, key in (("", "best"), ("_cpu", "cpu_best")):  # the best wall times, and the best CPU times
            if torch_side:  # > 1: the library's piece is quicker than PyTorch's
                numbers[f"pytorch_vs_library{suffix}"] = ratios(sides[torch_side], sides["library"], key)
            if native and isa != NATIVE:  # > 1: the piece is slower under the cap
                numbers[f"vs_native{suffix}"] = {side: ratios(sides[side], native["sides"][side], key)
                                                 for side in sides if side in native["sides"]}
    return result


def run(context) -> dict:
    context.log(f"op-by-op profile ({', '.join(context.isas)}; child processes), load {load()}")
    return {"profile": bench_profile(context.cfg, context.isas, context.with_torch, context.threads, context.quick,
                                     context.log)}
