"""Clean + AutoAttack evaluation with RobustBench's protocol (``dkl_zoo.evaluate``): resumable, shardable, with
its writers. One module per job: ``protocol`` (``evaluate``), ``arguments`` (each checked before any slow work),
``runner`` and ``state`` (AutoAttack's loop, resumable), ``sharding`` (slices, process groups, merging),
``result``, ``leaderboard`` (RobustBench's JSON) and ``curve`` (accuracy against eps).

``evaluate`` reproduces ``robustbench.eval.benchmark`` (first ``n_examples`` test images in order, clean
accuracy, then AutoAttack ``standard`` at the given eps) and adds what a multi-hour run needs: a state
file that survives interruption, shards for several GPUs, progress bars, and results that carry their
configuration and library versions.
"""

from .curve import curve_figure, robustness_curve, write_curve_csv
from .leaderboard import leaderboard_reasons, nonstandard_reasons, write_robustbench_json
from .protocol import evaluate
from .result import EvalResult
from .sharding import merge_results

__all__ = [
    "EvalResult",
    "evaluate",
    "merge_results",
    "write_robustbench_json",
    "robustness_curve",
    "nonstandard_reasons",
    "leaderboard_reasons",
    "write_curve_csv",
    "curve_figure",
]
