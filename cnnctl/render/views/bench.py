"""What `cnnctl bench` shows (cnnctl.analysis.timings' records): the timings, --data's passes; the JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...words import duration, plural, share, short
from ..design import peak_words, profile_json
from ..table import Column, Table, maybe, num

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...analysis.roofline import Profile
    from ...analysis.timings import BenchResult, DataTiming, Timing

PERCENTILES = (50, 90, 99)  # the step latencies told: JSON and CSV `p50_seconds`, text `p50 ms`


# What would help, in the command line's words: the analysis (cnnctl.analysis.timings) measures,
# and names no flag.
def advice(result: BenchResult) -> str:
    """What to do about a noisy measurement on this device."""
    busy = (
        "fewer threads on a busy CPU (--threads 1, or half the cores)"
        if result.device.startswith("cpu")
        else "no other process on the GPU (nvidia-smi lists them)"
    )
    return f"close other programs, time more steps (--steps 100) and repeats (--repeats 5), {busy}"


def verdict(data: DataTiming) -> str:
    """The bottleneck of bench --data in one line, with what would help (bottleneck_said)."""
    return bottleneck_said(data.loader.images_per_second, data.step.images_per_second, data.streamed,
                           data.workers, data.cores)  # fmt: skip


def bottleneck_said(loader: float, step: float, streamed: bool, workers: int, cores: int) -> str:
    """The slower of the loader and the training step (images/s each), named in one line."""
    if step <= loader:
        return (f"the step: {step:,.0f} img/s against the loader's {loader:,.0f}; the loader keeps up, so training "
                "goes at the step's pace (a GPU, --amp or --compile make the step faster)")  # fmt: skip
    said = f"the loader: {loader:,.0f} img/s against the step's {step:,.0f}; "
    if not streamed:
        return said + "the batches are gathered from memory by the training process itself (no loader processes)"
    if workers < cores:
        return said + f"more --workers (now {workers}; the machine has {plural(cores, 'usable core')}) or shards"
    processes = plural(workers, "loader process", "loader processes")
    return said + f"shards, or more cores ({processes} already share the {plural(cores, 'usable core')})"


def bench_table(result: BenchResult) -> Table:
    """One row per model and step; a noisy measurement says so in its row, its ratios are
    marked `(noisy)`, and a note gives the reason and what to do (see cnnctl.train.bench)."""
    rows = []
    for t in result.timings:
        ratio = None if t.roofline_seconds is None else (t.roofline_ratio, t.noisy)
        lo, hi = min(t.repeat_images_per_second), max(t.repeat_images_per_second)
        rows.append([_model(t, result), t.mode, t.batch, t.images_per_second, (lo, hi), lo, hi, t.spread,
                     *(t.percentile(q) for q in PERCENTILES), t.flops_per_second, _mfu(t, result),
                     t.roofline_images_per_second, t.roofline_seconds, ratio, t.roofline_ratio,
                     "NOISY" if t.noisy else "steady"])  # fmt: skip
    ms = "{:.2f}".format
    # CSV: the JSON's keys, and its units (times in seconds, as every command's JSON and CSV give them)
    columns = [
        Column("model"), Column("mode"), num("batch"),  # one name: the option --mode, the JSON's `mode`
        num("img/s", "{:,.1f}".format, key="images_per_second"),
        # text shows the slowest and fastest repeat in one column, CSV in two; the same for a ratio's mark
        Column("repeats img/s", lambda r: f"{r[0]:,.0f}-{r[1]:,.0f}", right=True, csv=False),
        Column("slowest repeat img/s", csv_only=True, key="slowest_repeat_images_per_second"),
        Column("fastest repeat img/s", csv_only=True, key="fastest_repeat_images_per_second"),
        num("spread", maybe("{:.1%}".format)),
        *(num(f"p{q} ms", lambda v: ms(1e3 * v), key=f"p{q}_seconds") for q in PERCENTILES),
        # text: in the unit that fits (`105.27 GFLOP/s`, `1.23 TFLOP/s`); CSV and JSON: FLOP/s, as every rate
        num("FLOP/s", lambda v: _rate(v / 1e12), key="flops_per_second"), num("MFU", share, key="mfu"),
        num("roofline img/s", maybe("{:,.0f}".format), key="roofline_images_per_second"),
        # the estimate in the unit that fits (a small network's is a few µs)
        Column("roofline", maybe(duration), right=True, key="roofline_seconds"),
        Column("step/roofline", maybe(_ratio("{:.1f}x")), right=True, csv=False),
        Column("step/roofline", csv_only=True, key="roofline_ratio"), Column("measurement"),
    ]  # fmt: skip
    notes = list(result.notes)
    for t in result.timings[:1]:  # the same steps and repeats for all
        notes.append(
            f"img/s: sustained, the images of all {plural(t.repeats, 'repeat')} of {plural(t.steps, 'step')} over "
            "their wall time; repeats img/s: the slowest and the fastest repeat; spread: (fastest - slowest) / "
            "median repeat; FLOP/s, MFU and every ratio come from the sustained rate"
        )
    for mode, r in result.reference_ratios().items():
        each = ", ".join(f"{v:.3f}" for v in r.repeats)
        notes.append(f"{mode}: cnnctl / hand-written reference = {_ratio('{:.3f}')((r.value, r.uncertain))}, "
                     f"from sustained rates; repeat by repeat {each}")  # fmt: skip
    notes.append(
        "FLOPs: forward 2 x multiplications per image, training step 2 x forward and backward "
        "multiplications (the analyzer's exact counts: `cnnctl flops`)"
    )
    if result.profile:
        notes.append(f"roofline: the estimate per step on {_device(result.profile)} in {_precision(result)} "
                     "(`cnnctl flops --profile`), and the img/s it allows: a bound on GPUs; on a CPU, caches can "
                     "beat the measured bandwidth; step/roofline: the sustained time per step over it")  # fmt: skip
    for t in result.timings:
        if t.noisy:
            notes.append(f"NOISY: {_model(t, result)} {t.mode}: {t.noise_reason}; its figures and ratios are uncertain")
    for t in result.timings:
        if _below_bound(t):
            notes.append(f"{_model(t, result)} {t.mode}: the step took {t.roofline_ratio:.2f}x its roofline estimate, "
                         "faster than a lower bound allows: the bound is wrong here "
                         f"({_why_below(result)})")  # fmt: skip
    busy = _busy(result)
    if busy:
        notes.append(busy)
    if result.noisy:
        notes.append(f"  to measure again: {advice(result)}")
    peak = (f", MFU against {result.peak_tflops:g} TFLOP/s ({_mfu_peak_words(result)})"
            if result.peak_tflops else " (no peak known: --peak-tflops)")  # fmt: skip
    if result.peak_tflops and result.peak_measured:
        peak = (f", MFU against {_rate(result.peak_tflops)} ({result.dtype}, this CPU's peak as measured here; "
                "--peak-tflops to give another)")  # fmt: skip
    of = f" {result.network}" if result.network else ""
    return Table(f"bench{of} on {result.device}{peak}", columns, rows, notes)


def bench_data_table(data: DataTiming) -> Table:
    """bench --data: the loader alone, the training step alone and the two together, and the
    bottleneck (see cnnctl.train.bench). What was read (`data.notes`) is said before the tables."""
    loaders = plural(data.workers, "loader process", "loader processes")
    held = f"streamed from disk, {loaders}" if data.streamed else "held in memory, batched by index"
    step = data.step
    rows = [
        ["loader", data.loader.images_per_second, data.loader.batches, data.loader.seconds,
         f"the training batches alone ({held})"],
        ["step", step.images_per_second, len(step.latencies), step.seconds,
         "training steps on synthetic data (the network's train row above)"],
        ["together", data.together.images_per_second, data.together.batches, data.together.seconds,
         "training steps fed by the loader, as `train` runs them"],
    ]  # fmt: skip
    columns = [Column("measured"), num("img/s", "{:,.1f}".format, key="images_per_second"), num("batches"),
               num("seconds", "{:.3f}".format),
               Column("what")]  # fmt: skip
    notes = [
        f"bottleneck: {verdict(data)}",
        f"loader and together: {plural(data.warmup, 'batch', 'batches')} first (not timed: the loader's start), then "
        f"{plural(data.loader.batches, 'batch', 'batches')} of {data.batch} back to back, the device synchronised at "
        "the end",
    ]
    if data.skipped:
        notes.append(f"skipped {plural(data.skipped, 'unreadable image')} (left out of the batches)")
    return Table(f"where the time goes: {data.data}, batch {data.batch}", columns, rows, notes)


def _bench_data_json(data: DataTiming) -> dict:
    rates = {"loader": data.loader.images_per_second, "step": data.step.images_per_second,
             "together": data.together.images_per_second}  # fmt: skip
    seconds = {"loader": data.loader.seconds, "step": data.step.seconds, "together": data.together.seconds}
    return {"data": data.data, "streamed": data.streamed, "workers": data.workers, "usable_cores": data.cores,
            "batch": data.batch, "warmup": data.warmup, "batches": data.loader.batches, "images_per_second": rates,
            "seconds": seconds, "bottleneck": data.bottleneck, "verdict": verdict(data), "images_skipped": data.skipped,
            "notes": data.notes}  # fmt: skip


def _ratio(fmt: str) -> Callable[[tuple[float, bool]], str]:
    """(ratio, uncertain) as `1.3x`, or `1.3x (noisy)` when drawn from a noisy measurement."""
    return lambda r: fmt.format(r[0]) + (" (noisy)" if r[1] else "")


def _device(profile: Profile) -> str:
    """A profile as the notes name it: a measured one with its figures (`this CPU (measured): 45 GFLOP/s,
    32.0 GB/s`), a data sheet's by its name."""
    if profile.key != "cpu":
        return profile.name
    return f"{profile.name}: {profile.peak['float32'] / 1e9:,.0f} GFLOP/s, {profile.bandwidth / 1e9:,.1f} GB/s"


def _precision(result: BenchResult) -> str:
    """How a step's arithmetic ran: `float32` (on a GPU with TF32, its convs at that peak and its fc
    at FP32's: `float32: convs at TF32 494.7, fc at FP32 66.9 TFLOP/s`), or `mixed bfloat16`
    (autocast over float32 weights)."""
    if result.dtype != "float32":
        return f"mixed {result.dtype}"
    return peak_words(result.profile, "float32") if _two_peaks(result) else "float32"


def _two_peaks(result: BenchResult) -> bool:
    """Whether the step ran in float32 on a profile whose convs and fc compute at two peaks (TF32, FP32)."""
    p = result.profile
    return result.dtype == "float32" and p is not None and bool(p.fp32) and p.fp32 != p.peak.get("float32")


def _mfu_peak_words(result: BenchResult) -> str:
    """What MFU's peak is: the dtype; in float32 on a GPU of two peaks, that it is TF32's (the convs',
    most of a CNN's FLOPs), the FP32 one an fc runs at beside it."""
    p = result.profile
    if _two_peaks(result) and result.peak_tflops == p.peak["float32"] / 1e12:
        return f"float32: TF32's, the convs' peak; an fc runs at FP32's {p.fp32 / 1e12:g}"
    return result.dtype


def _rate(tflops: float) -> str:
    """Achieved or peak TFLOP/s in the unit that fits: `1.23 TFLOP/s`, `105.27 GFLOP/s`."""
    return f"{short(round(tflops * 1e12))}FLOP/s"


def _below_bound(t: Timing) -> bool:
    """A step measured faster than its roofline estimate, which is meant as a lower bound."""
    ratio = t.roofline_ratio
    return ratio is not None and ratio < 1


def _why_below(result: BenchResult) -> str:
    """What makes a roofline bound wrong, on this kind of device."""
    if result.profile is not None and result.profile.key == "cpu":
        return (
            "on a CPU, layers whose data stay in the caches move faster than the bandwidth a large copy "
            "measured, and a busy machine measures its peak and bandwidth low"
        )
    return "the device runs faster than the profile's figures say: --peak-tflops, or check the profile"


def _busy(result: BenchResult) -> str | None:
    """The measured CPU profiles' disagreement (the machine was busy), or None."""
    return result.profile_disagreement


def _model(timing: Timing, result: BenchResult) -> str:
    """What a timing's row is named by: the network for cnnctl's module (its name where the result has one),
    `reference` for the hand-written one."""
    return result.network if timing.model == "cnnctl" and result.network else timing.model


def _mfu(timing: Timing, result: BenchResult) -> float | None:
    """Model FLOPs utilization: achieved TFLOP/s over the device's peak, when the peak is known."""
    return timing.tflops / result.peak_tflops if result.peak_tflops else None


def bench_json(result: BenchResult) -> dict:
    """`images_per_second` is sustained (all timed steps' images over their wall time); each
    timing says whether it is `noisy` and why; ratios carry `uncertain`. A timing without its
    latencies (a summary built elsewhere) gives the base fields alone."""
    timings = []
    for t in result.timings:
        row = {"model": _model(t, result), "mode": t.mode, "batch": t.batch, "images_per_second": t.images_per_second,
               **{f"p{q}_seconds": t.percentile(q) for q in PERCENTILES}, "flops_per_second": t.flops_per_second,
               "mfu": _mfu(t, result), "roofline_seconds": t.roofline_seconds,
               "roofline_images_per_second": t.roofline_images_per_second}  # fmt: skip
        if hasattr(t, "latencies"):
            row |= {"steps": t.steps, "repeats": t.repeats, "seconds": t.seconds,
                    "repeat_images_per_second": t.repeat_images_per_second, "spread": t.spread,
                    "p90_over_p50": t.tail, "noisy": t.noisy, "noise_reason": t.noise_reason,
                    "roofline_ratio": t.roofline_ratio, "faster_than_roofline": _below_bound(t),
                    "roofline_ratio_uncertain": (t.noisy or _busy(result) is not None)
                    if t.roofline_seconds is not None else None}  # fmt: skip
        timings.append(row)
    roof = profile_json(result.profile, result.dtype) if result.profile else None
    # MFU's peak, in FLOP/s as every peak in JSON (`roofline`'s too, which can be another: a CPU's measured, beside
    # --peak-tflops); null where there is no MFU (a CPU without --peak-tflops)
    peak = result.peak_tflops * 1e12 if result.peak_tflops else None
    measured = [profile_json(p, result.dtype) for p in result.measured_profiles
                if result.dtype in p.peak]  # fmt: skip
    data = {"network": result.network or None, "device": result.device, "mfu_peak_flops_per_second": peak,
            "mfu_peak_measured": bool(peak and result.peak_measured), "roofline": roof,
            "roofline_measured": measured, "machine_busy": _busy(result),
            "dtype": result.dtype,
            "notes": result.notes, "timings": timings}  # fmt: skip
    if hasattr(result, "reference_ratios"):
        data |= {
            "noisy": result.noisy,
            "noise_thresholds": result.thresholds,
            "advice": advice(result) if result.noisy else None,
            "reference_ratio": {mode: {"ratio": r.value, "repeats": r.repeats, "uncertain": r.uncertain}
                                for mode, r in result.reference_ratios().items()},
            "data": _bench_data_json(result.data) if result.data is not None else None,
        }  # fmt: skip
    return data
