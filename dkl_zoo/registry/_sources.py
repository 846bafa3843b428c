"""Where the registry's facts come from: the paper, the authors' release at the commit the entries were checked
against, RobustBench's leaderboard; and small constructors of the references each number carries."""

from __future__ import annotations

from ._constants import RELEASE_COMMIT, RELEASE_URL, SOURCE_LOG, SOURCE_README, SOURCE_ROBUSTBENCH
from ._types import MethodLabel, OriginalSource, ReportedResult

__all__ = ["README_V1", "README_V2", "robustbench", "readme", "log", "drive", "labels"]

V1 = f"{RELEASE_URL}/blob/{RELEASE_COMMIT}/DKLv1/Adv-training-dkl"
V2 = f"{RELEASE_URL}/blob/{RELEASE_COMMIT}/DKLv2/Adv-training-dkl"
README_V1 = f"{V1}/README.md"
README_V2 = f"{V2}/README.md"
LOG_DIR = f"{RELEASE_URL}/tree/{RELEASE_COMMIT}/DKLv1/Adv-training-dkl/auto_attacks/logs"
EVAL_SH = f"{V1}/auto_attacks/sh/eval.sh"
_RB = "https://github.com/RobustBench/robustbench/blob/master/model_info/{dataset}/Linf/{name}.json"


def robustbench(dataset: str, name: str, clean: float, robust: float) -> ReportedResult:
    """RobustBench's leaderboard entry ``model_info/<dataset>/Linf/<name>.json``."""
    return ReportedResult(SOURCE_ROBUSTBENCH, clean, robust, _RB.format(dataset=dataset, name=name))


def readme(clean: float, robust: float, note: str = "", reference: str = README_V1) -> ReportedResult:
    """A row of the results table of the release's README (DKLv1's unless said)."""
    return ReportedResult(SOURCE_README, clean, robust, reference, note)


def log(clean: float, robust: float, log_file: str | None = None, note: str = "") -> ReportedResult:
    """An AutoAttack log of the release; ``log_file`` names it when it was read, else the logs folder is cited."""
    reference = f"{V1}/auto_attacks/logs/{log_file}" if log_file else LOG_DIR
    return ReportedResult(SOURCE_LOG, clean, robust, reference, note)


def drive(readme_id: str | None, robustbench_id: str | None) -> tuple[OriginalSource, ...]:
    """The Google Drive files of a checkpoint: the README's first, RobustBench's copy second."""
    sources = [OriginalSource("README Google Drive", readme_id)] if readme_id else []
    if robustbench_id:
        sources.append(OriginalSource("RobustBench Google Drive", robustbench_id))
    return tuple(sources)


def labels(*pairs: tuple[str, str]) -> tuple[MethodLabel, ...]:
    """What each README calls the method: (label, README url) pairs."""
    return tuple(MethodLabel(label, source) for label, source in pairs)


BOTH_LABELS = labels(("IKL-AT", README_V1), ("GKL-AT", README_V2))
IKL_GKL_NOTE = (
    "DKLv1's README calls this checkpoint IKL-AT, DKLv2's README GKL-AT; with gamma = 1 the GKL loss is "
    "the IKL loss (the class-prior weights of each sample sum to 1), so both names are right."
)
DATAPARALLEL_NOTE = (
    "The released scripts trained with nn.DataParallel on 4 GPUs (#SBATCH --gres=gpu:4): batch "
    "norm saw 32 images per replica, not 128; the training config reproduces this (bn_replicas: 4)."
)
