"""The seven checkpoints of the original release, one ``ModelEntry`` each, written out whole.

Every number carries its source (the README tables of DKLv1 and DKLv2, the AutoAttack logs, RobustBench),
linked at the release commit the entries were checked against. Where sources disagree, every value is kept and
said once: a disagreement about numbers in ``notes``, about hyperparameters in the recipe's ``note``. The
alpha / beta / T of each recipe come from the released checkpoint and log names (``cifar10_a3_b20_t4.pt`` in
``auto_attacks/sh/eval.sh``, ``cifar10_dkl_a3_b20_T4`` logs) and the training scripts ``sh/*.sh``; no README
has a hyperparameter column.
"""

from __future__ import annotations

from ._architectures import dm_wrn28, wrn34
from ._sources import (
    BOTH_LABELS,
    DATAPARALLEL_NOTE,
    EVAL_SH,
    IKL_GKL_NOTE,
    LOG_DIR,
    README_V1,
    README_V2,
    V1,
    drive,
    labels,
    log,
    readme,
    robustbench,
)
from ._types import ModelEntry, Provenance, Recipe, WeightsSpec

__all__ = ["RELEASED_ENTRIES"]

_EPS = 8 / 255

RELEASED_ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="ikl-at-cifar10-wrn34",
        arch=wrn34(10),
        weights=WeightsSpec(
            original_sources=drive("1SFdNdKE6ezI6OsINWX-h74dGo2-9u3Ac", "1-ArD-TugRXUbH3VtM9qnzvby6NvdXNUN")
        ),
        provenance=Provenance(
            dataset="cifar10",
            threat_model="Linf",
            eps=_EPS,
            eps_label="8/255",
            reported=(
                readme(85.31, 57.13, note="DKLv1 and DKLv2 READMEs alike"),
                log(85.31, 57.09),
                robustbench("cifar10", "Cui2023Decoupled_WRN-34-10", 85.31, 57.09),
            ),
            recipe=Recipe(
                3.0,
                20.0,
                4.0,
                source=f"checkpoint name cifar10_a3_b20_t4.pt in {EVAL_SH} and the "
                "cifar10_dkl_a3_b20_T4 AutoAttack log name",
                note="DKLv1/Adv-training-dkl/sh/train_dkl_cifar10.sh (line 21) passes --alpha 4.0 (mark "
                "cifar10_dkl_a4b20t4): kept at 3, which names the released file; the conflict is "
                "recorded, not resolved.",
            ),
            robustbench_name="Cui2023Decoupled_WRN-34-10",
            method_labels=BOTH_LABELS,
            training_config="ikl-at-cifar10-wrn34.yaml",
            notes=(
                "The README reports 57.13 % AutoAttack accuracy; its AutoAttack log and RobustBench report 57.09 %. "
                "Both are kept; the README value is the headline.",
                IKL_GKL_NOTE,
                DATAPARALLEL_NOTE,
            ),
        ),
    ),
    ModelEntry(
        name="ikl-at-cifar10-wrn28-20m",
        arch=dm_wrn28(10),
        weights=WeightsSpec(
            original_sources=drive("1gEodZ4ushbRPaaVfS_vjJyldH3wJg4zV", "1-AaTrYt23WJFR22hXgBd-i6kjpsz6Hf2")
        ),
        provenance=Provenance(
            dataset="cifar10",
            threat_model="Linf",
            eps=_EPS,
            eps_label="8/255",
            reported=(
                readme(92.16, 67.75),
                log(92.16, 67.73, "cifar10_dkl_a3_b10_T4_20m.log"),
                robustbench("cifar10", "Cui2023Decoupled_WRN-28-10", 92.16, 67.73),
            ),
            recipe=Recipe(
                3.0,
                10.0,
                4.0,
                source=f"checkpoint name cifar10_a3_b10_t4_20m.pt in {EVAL_SH} and the "
                f"AutoAttack log name cifar10_dkl_a3_b10_T4_20m.log ({LOG_DIR})",
                extra_data="20M generated images (Wang et al. 2023)",
            ),
            robustbench_name="Cui2023Decoupled_WRN-28-10",
            footnote="It uses additional 20M synthetic images in training.",
            method_labels=BOTH_LABELS,
            training_config="ikl-at-cifar10-wrn28-20m.yaml",
            notes=(
                "The README reports 67.75 % AutoAttack accuracy; its AutoAttack log and RobustBench report 67.73 %.",
                IKL_GKL_NOTE,
                "Trained with 20M generated images; RobustBench lists additional_data false (the images are "
                "synthetic).",
            ),
        ),
    ),
    ModelEntry(
        name="ikl-at-cifar100-wrn34",
        arch=wrn34(100),
        weights=WeightsSpec(original_sources=drive("1NaWPX5w32xTiny91kJ6SJxSejCzsD1dy", None)),
        provenance=Provenance(
            dataset="cifar100",
            threat_model="Linf",
            eps=_EPS,
            eps_label="8/255",
            reported=(
                readme(66.51, 31.43, note="DKLv1 README only"),
                log(66.51, 31.43),
            ),
            recipe=Recipe(
                3.0,
                20.0,
                4.0,
                source=f"checkpoint name cifar100_a3_b20_t4.pt in {EVAL_SH} and the "
                "cifar100_dkl_a3_b20_T4 AutoAttack log name",
                note="DKLv1/Adv-training-dkl/sh/train_dkl_cifar100.sh passes --alpha 4.0 (later 5.0): kept "
                "at 3, which names the released file; the conflict is recorded, not resolved.",
            ),
            robustbench_name=None,
            method_labels=labels(("IKL-AT", README_V1)),
            training_config="ikl-at-cifar100-wrn34.yaml",
            notes=(
                "Not on the RobustBench leaderboard; RobustBench's CIFAR-100 WRN-34-10 entry is "
                "ikl-at-cifar100-wrn34-v2.",
                "Only DKLv1's README lists this checkpoint (as IKL-AT); DKLv2's README lists 65.76 / 31.91 instead.",
                "Release bug (not reproduced): DKLv1's sh/train_dkl_cifar100.sh line 30 calls swa.py without its "
                "`end` argument, which raises IndexError.",
                DATAPARALLEL_NOTE,
            ),
        ),
    ),
    ModelEntry(
        name="ikl-at-cifar100-wrn34-v2",
        arch=wrn34(100),
        weights=WeightsSpec(
            original_sources=drive("1lgFnfmsCw4UxguAOWSLsg6xUDfGG-HRy", "1whziIioVu5SGI1fBKyc331IfG_1MgenN")
        ),
        provenance=Provenance(
            dataset="cifar100",
            threat_model="Linf",
            eps=_EPS,
            eps_label="8/255",
            reported=(
                readme(65.76, 31.91, note="DKLv1 (row 6) and DKLv2 READMEs alike"),
                robustbench("cifar100", "Cui2023Decoupled_WRN-34-10", 65.76, 31.91),
            ),
            recipe=Recipe(
                None,
                None,
                None,
                source="not published",
                note="The release does not say which run produced this file. DKLv2's "
                "sh/train_dkl_cifar100.sh offers two candidates: alpha 4, beta 20, T 4 (lines 16-26) "
                "and alpha 4, beta 20, GKL gamma 0.4, T 1 (lines 31-42); both are runnable configs "
                "(ikl-at-cifar100-wrn34-v2-a4b20t4.yaml, ikl-at-cifar100-wrn34-v2-a4b20g04t1.yaml), and "
                "the config of this entry marks the values unknown. No AutoAttack log in the release "
                "matches 65.76 / 31.91; the closest, cifar100_dkl_a4_b20_T2.log, reports 64.08 / 31.65.",
            ),
            robustbench_name="Cui2023Decoupled_WRN-34-10",
            method_labels=BOTH_LABELS,
            training_config="ikl-at-cifar100-wrn34-v2.yaml",
            notes=(
                "History of this README row: 64.08 / 31.65 (2023-05-20), then 63.40 / 31.92 (2024-01-11), then "
                "65.76 / 31.91 (2024-09-27, when the model link changed to the current file).",
                IKL_GKL_NOTE,
                DATAPARALLEL_NOTE,
                "RobustBench's copy (Drive id 1whziIioVu5SGI1fBKyc331IfG_1MgenN) and the README's file are not yet "
                "known to be byte-identical: they will be once both are converted and hashed.",
            ),
        ),
    ),
    ModelEntry(
        name="ikl-at-cifar100-wrn34-autoaug",
        arch=wrn34(100),
        weights=WeightsSpec(
            original_sources=drive("1kQQpVVtlS9uBC4oZ3ei9OHly1yriU1UU", "18hjcLa1V3JTNUOshafLvw1ncxL2gu50M")
        ),
        provenance=Provenance(
            dataset="cifar100",
            threat_model="Linf",
            eps=_EPS,
            eps_label="8/255",
            reported=(
                readme(65.93, 32.52),
                robustbench("cifar100", "Cui2023Decoupled_WRN-34-10_autoaug", 65.93, 32.52),
            ),
            recipe=Recipe(
                4.0,
                20.0,
                4.0,
                gamma_aug=0.3,
                source=f"DKLv1's training script {V1}/sh/train_dkl_cifar100_autoaug.sh",
                note="DKLv2's sh/train_dkl_cifar100_autoaug.sh, for the same Drive file, gives aug weight 0.5 "
                "and GKL gamma 1.0 (mark cifar100v2_dkl_a4b20g1t4_augw05); which one ran is not said. "
                "Both are configs (ikl-at-cifar100-wrn34-autoaug.yaml is DKLv1's, "
                "ikl-at-cifar100-wrn34-autoaug-dklv2.yaml DKLv2's).",
            ),
            robustbench_name="Cui2023Decoupled_WRN-34-10_autoaug",
            venue="NeurIPS 2024",
            footnote="It uses AutoAugment.",
            method_labels=BOTH_LABELS,
            training_config="ikl-at-cifar100-wrn34-autoaug.yaml",
            notes=(
                IKL_GKL_NOTE,
                DATAPARALLEL_NOTE,
                "No AutoAttack log for this run is in the release.",
                "RobustBench's model_info lists the venue as 'arXiv, May 2023' for this entry and 'NeurIPS 2024' "
                "for the others.",
            ),
        ),
    ),
    ModelEntry(
        name="ikl-at-cifar100-wrn28-50m",
        arch=dm_wrn28(100),
        weights=WeightsSpec(
            original_sources=drive("1Leec2X9kGBnBSuTiYytdb4_wR50ibTE8", "15BwWdWbNfoarTEWWugicOVkTjh3nXH36")
        ),
        provenance=Provenance(
            dataset="cifar100",
            threat_model="Linf",
            eps=_EPS,
            eps_label="8/255",
            reported=(
                readme(73.85, 39.18),
                log(73.85, 39.18, "cifar100_dkl_a5_b12_T4_50m.log"),
                robustbench("cifar100", "Cui2023Decoupled_WRN-28-10", 73.85, 39.18),
            ),
            recipe=Recipe(
                5.0,
                12.0,
                4.0,
                source=f"checkpoint name cifar100_a5_b12_t4_50m.pt in {EVAL_SH} and the "
                f"AutoAttack log name cifar100_dkl_a5_b12_T4_50m.log ({LOG_DIR})",
                extra_data="50M generated images (Wang et al. 2023)",
            ),
            robustbench_name="Cui2023Decoupled_WRN-28-10",
            footnote="It uses additional 50M synthetic images in training.",
            method_labels=labels(("IKL-AT", README_V1)),
            training_config="ikl-at-cifar100-wrn28-50m.yaml",
            notes=(
                "Trained with 50M generated images; RobustBench lists additional_data false (the images are "
                "synthetic).",
                "DKLv2's README lists another 50M checkpoint, GKL-AT (73.65 / 39.37): gkl-at-cifar100-wrn28-50m.",
            ),
        ),
    ),
    ModelEntry(
        name="gkl-at-cifar100-wrn28-50m",
        arch=dm_wrn28(100),
        weights=WeightsSpec(original_sources=drive("1H86QPlAnYZe6IVdGOhAQ73VsEBJ6VPom", None)),
        provenance=Provenance(
            dataset="cifar100",
            threat_model="Linf",
            eps=_EPS,
            eps_label="8/255",
            reported=(readme(73.65, 39.37, note="DKLv2 README only", reference=README_V2),),
            recipe=Recipe(
                None,
                None,
                None,
                source=f"not published; {README_V2} names the loss (GKL) and the data",
                extra_data="50M generated images (Wang et al. 2023)",
                note="Only the loss (GKL) and the data (50M generated images) are published; alpha, beta, "
                "T, gamma, batch size and epochs are not, and the training config refuses to start "
                "until they are chosen.",
            ),
            robustbench_name=None,
            footnote="It uses additional 50M synthetic images in training.",
            method_labels=labels(("GKL-AT", README_V2)),
            training_config="gkl-at-cifar100-wrn28-50m.yaml",
            notes=(
                "Listed only in DKLv2's README (GKL-AT 50M); its AutoAttack log is a Google Drive file, id "
                "1T7L2ofy2ETtsoCRm8kXH6614fG_WmGoB "
                "(https://drive.google.com/file/d/1T7L2ofy2ETtsoCRm8kXH6614fG_WmGoB), "
                "not a file of the repository.",
                "Not on the RobustBench leaderboard; RobustBench's CIFAR-100 WRN-28-10 entry is "
                "ikl-at-cifar100-wrn28-50m (73.85 / 39.18, DKLv1's IKL-AT 50M).",
                "Release bug (not reproduced): DKLv2's sh/train_dkl_cifar10.sh line 38 lacks a trailing "
                "backslash, so --T 1.0 --epochs --seed of its second run are never passed.",
            ),
        ),
    ),
)
