"""What `cnnctl bench` measured, as records without torch (rendered by cnnctl.render.views):
each contender's step latencies (Timing), the ratios drawn from them (Ratio), with --data the
loader, the step and the two together (DataTiming), all of it in one BenchResult. How they are
measured is cnnctl.train.bench's.

A measurement is *noisy*, and every ratio drawn from it (over the roofline, over the
reference) uncertain, when either
  - p90 / p50 > TAIL_LIMIT (1.5): one step in ten took half as long again as the typical
    step, a stall (another program, a page fault storm, the OS moving threads) rather than
    the network's own cost, which is the same at every step; or
  - (fastest - slowest round) / median round > SPREAD_LIMIT (20%, rounds' throughputs):
    the machine's speed changed during the measurement (on the 2-core development VM, one
    run of LeNet-5 at batch 8, 3 repeats of 10 steps, gave spreads of 3-14%).
Ratios are computed from sustained throughputs only, never from medians.
"""

from __future__ import annotations

import math
import statistics

from ..records import record

TYPE_CHECKING = False  # typing's own name for it, without importing typing
if TYPE_CHECKING:
    from .roofline import Profile  # a record of the analysis: bench's results stay light to render

TAIL_LIMIT = 1.5  # p90 / p50 above this: steps stalled (see the module's docstring)
SPREAD_LIMIT = 0.20  # (fastest - slowest round) / median round above this: the machine's speed changed


@record
class Timing:
    model: str  # "cnnctl" or "reference"
    mode: str  # "forward" or "train"
    batch: int
    latencies: list[float]  # seconds per step, in the order run: `repeats` rounds of equal length
    flops_per_step: int
    roofline_seconds: float | None = None  # the roofline's lower bound for one step
    repeats: int = 1

    @property
    def seconds(self) -> float:
        """The wall time of all timed steps."""
        return sum(self.latencies)

    @property
    def images_per_second(self) -> float:
        """Sustained: the images of all timed steps over their wall time."""
        return self.batch * len(self.latencies) / self.seconds

    @property
    def step_seconds(self) -> float:
        """The sustained time of one step (the mean latency): what ratios are computed from."""
        return self.seconds / len(self.latencies)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]

    @property
    def flops_per_second(self) -> float:
        """The sustained rate: a step's FLOPs over the sustained time of one step."""
        return self.flops_per_step / self.step_seconds

    @property
    def tflops(self) -> float:
        return self.flops_per_second / 1e12

    @property
    def steps(self) -> int:
        """Timed steps per repeat."""
        return len(self.latencies) // self.repeats

    @property
    def rounds(self) -> list[list[float]]:
        """The latencies of each repeat."""
        n = self.steps
        return [self.latencies[i * n : (i + 1) * n] for i in range(self.repeats)]

    @property
    def repeat_images_per_second(self) -> list[float]:
        """Each repeat's sustained throughput."""
        return [self.batch * len(r) / sum(r) for r in self.rounds]

    @property
    def tail(self) -> float:
        """p90 / p50: 1 for identical steps, large when some steps stalled."""
        return self.percentile(90) / self.percentile(50)

    @property
    def spread(self) -> float | None:
        """(fastest - slowest repeat's throughput) / their median; None for a single repeat."""
        rates = self.repeat_images_per_second
        return (max(rates) - min(rates)) / statistics.median(rates) if len(rates) > 1 else None

    @property
    def noise_reason(self) -> str | None:
        """Why the measurement is too noisy to trust (see the module's docstring), or None."""
        reasons = []
        if self.tail > TAIL_LIMIT:
            reasons.append(f"p90 is {self.tail:.2f}x p50 (more than {TAIL_LIMIT:g}x): some steps stalled")
        spread = self.spread
        if spread is not None and spread > SPREAD_LIMIT:
            reasons.append(
                f"the {self.repeats} repeats' throughputs differ by {spread:.0%} of their median "
                f"(more than {SPREAD_LIMIT:.0%}): the machine's speed changed"
            )
        return "; ".join(reasons) or None

    @property
    def noisy(self) -> bool:
        return self.noise_reason is not None

    @property
    def roofline_images_per_second(self) -> float | None:
        """The rate the roofline's estimate allows: the batch over its time per step."""
        return None if self.roofline_seconds is None else self.batch / self.roofline_seconds

    @property
    def roofline_ratio(self) -> float | None:
        """The sustained step time over the roofline's estimate."""
        return None if self.roofline_seconds is None else self.step_seconds / self.roofline_seconds


@record
class BenchResult:
    device: str
    timings: list[Timing]
    peak_tflops: float | None
    notes: list[str]
    profile: Profile | None = None  # the roofline's device profile (cnnctl.analysis.roofline)
    data: DataTiming | None = None  # with --data: the loader, the step and both together
    dtype: str = "float32"  # what the arithmetic ran in (bfloat16 or float16 under --amp): the peak's and roofline's
    peak_measured: bool = False  # the peak MFU is against is this CPU's, measured (no --peak-tflops, no data sheet)
    measured_profiles: tuple = ()  # a CPU's profile as measured before the timings and after them
    network: str = ""  # the network timed, as it is shown (Graph.title): cnnctl's model is shown by it

    @property
    def profile_disagreement(self) -> str | None:
        """Why the measured CPU profiles disagree (the machine was busy), or None: their peaks or
        their bandwidths differ by more than SPREAD_LIMIT of their median."""
        if len(self.measured_profiles) < 2:
            return None
        peaks = [p.peak[self.dtype] for p in self.measured_profiles if self.dtype in p.peak]
        bandwidths = [p.bandwidth for p in self.measured_profiles]
        told = []
        for figures, unit, scale in ((peaks, "GFLOP/s", 1e9), (bandwidths, "GB/s", 1e9)):
            if len(figures) > 1 and (max(figures) - min(figures)) / statistics.median(figures) > SPREAD_LIMIT:
                spread = (max(figures) - min(figures)) / statistics.median(figures)
                told.append(" and ".join(f"{f / scale:,.1f}" for f in figures) + f" {unit} ({spread:.0%} apart)")
        if not told:
            return None
        return (f"the machine is busy: this CPU measured {'; '.join(told)} before and after the timings (more than "
                f"{SPREAD_LIMIT:.0%} apart): the roofline (the best of each) and MFU against the measured peak are "
                "uncertain")  # fmt: skip

    @property
    def noisy(self) -> bool:
        return any(t.noisy for t in self.timings)

    @property
    def thresholds(self) -> dict[str, float]:
        """Above these a measurement is noisy (see the module's docstring)."""
        return {"p90_over_p50": TAIL_LIMIT, "spread": SPREAD_LIMIT}

    def reference_ratios(self) -> dict[str, Ratio]:
        """Per mode: the network's sustained throughput over the reference's, with the ratio
        of each repeat (the two alternate repeat by repeat), uncertain when either is noisy."""
        ratios = {}
        for ours in self.timings:
            theirs = next((t for t in self.timings if t.model == "reference" and t.mode == ours.mode), None)
            if ours.model != "cnnctl" or theirs is None:
                continue
            pairs = zip(ours.repeat_images_per_second, theirs.repeat_images_per_second, strict=True)
            rounds = [a / b for a, b in pairs]
            ratios[ours.mode] = Ratio(ours.images_per_second / theirs.images_per_second, rounds,
                                      ours.noisy or theirs.noisy)  # fmt: skip
        return ratios


@record
class Ratio:
    value: float  # from the sustained throughputs
    repeats: list[float]  # the same ratio, repeat by repeat
    uncertain: bool  # either measurement is noisy


@record
class Pass:
    """Batches taken back to back and timed as one: how many, their images, their wall time."""

    batches: int
    images: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds


@record
class DataTiming:
    """Where the time of training on `data` goes (see the module's docstring): the loader
    alone, the training step alone (the synthetic `train` timing) and the two together."""

    data: str  # --data as given
    streamed: bool  # read from disk by loader processes, or held in memory and batched by index
    workers: int  # loader processes (0: the training process reads, as for data held in memory)
    cores: int  # the cores this process may run on
    batch: int
    warmup: int  # untimed batches before each pass
    loader: Pass
    step: Timing
    together: Pass
    skipped: int = 0  # unreadable images, left out of their batches
    notes: tuple[str, ...] = ()  # how the data was read and adapted

    @property
    def bottleneck(self) -> str:
        """ "loader" or "step": the slower of the two."""
        return "loader" if self.loader.images_per_second < self.step.images_per_second else "step"
