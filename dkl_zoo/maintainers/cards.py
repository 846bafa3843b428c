"""Hugging Face model cards, rendered from the registry only (so a test can keep the checked-in ones in sync).

The metadata block is huggingface_hub's ``ModelCardData`` with a model-index: clean accuracy and
AutoAttack robust accuracy on the test split, the README value as the headline. The body carries the
provenance table (README vs AutoAttack log vs RobustBench, disagreements spelled out), the recipe and its
source, how to load the model with dkl_zoo / timm / RobustBench, license and citation.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..registry import REGISTRY, SOURCE_README, ModelEntry, get_entry

__all__ = ["card_data", "lab_notes", "render_card", "write_cards", "stale_cards", "checkout_cards_dir"]
_DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "fashion-mnist": "Fashion-MNIST"}


def card_data(entry: ModelEntry) -> ModelCardData:
    """The card's YAML header: license, tags, datasets and the reported results as Hub eval results."""
    head = entry.headline
    dataset_name = _DATASET_NAMES.get(entry.dataset, entry.dataset)
    # a reference that is a path of this project (the shipped model's config) has no public URL to point at
    source_url = head.reference if head.reference.startswith("http") else None
    common = dict(
        task_type="image-classification",
        task_name="Adversarially robust image classification",
        dataset_type=entry.dataset,
        dataset_name=dataset_name,
        dataset_split="test",
        source_name=head.source if source_url else None,
        source_url=source_url,
    )
    results = [
        EvalResult(metric_type="accuracy", metric_name="Clean accuracy", metric_value=head.clean_acc, **common),
        EvalResult(
            metric_type="robust_accuracy",
            metric_name="AutoAttack robust accuracy",
            metric_value=head.robust_acc,
            metric_config=f"{entry.provenance.threat_model}, eps={entry.provenance.eps_label}",
            **common,
        ),
    ]
    return ModelCardData(
        model_name=entry.name,
        license=entry.provenance.license,
        license_name="no-license-file" if entry.provenance.license == "other" else None,
        license_link=None,
        library_name="dkl-zoo",
        pipeline_tag="image-classification",
        tags=(
            ["adversarial-robustness", "robustbench", "autoattack", "wide-resnet", "ikl-at", "dkl", entry.dataset]
            if entry.provenance.method != "standard"
            else ["adversarial-robustness", "autoattack", "wide-resnet", "non-robust-baseline", entry.dataset]
        ),
        datasets=[entry.dataset],
        metrics=["accuracy", "robust_accuracy"],
        eval_results=results,
    )


def _table(entry: ModelEntry) -> str:
    rows = ["| source | clean (%) | AutoAttack (%) | reference |", "| --- | --- | --- | --- |"]
    for r in entry.provenance.reported:
        note = f" ({r.note})" if r.note else ""
        rows.append(f"| {r.source}{note} | {r.clean_acc:.2f} | {r.robust_acc:.2f} | <{r.reference}> |")
    return "\n".join(rows)


def _recipe(entry: ModelEntry) -> str:
    r = entry.provenance.recipe
    value = lambda v: "not published" if v is None else f"{v:g}"  # noqa: E731
    lines = (
        [
            f"- alpha (soft-CE weight): {value(r.alpha)}",
            f"- beta (wMSE weight): {value(r.beta)}",
            f"- temperature T: {value(r.temperature)}",
        ]
        if entry.provenance.method != "standard"
        else ["- loss: cross-entropy on clean images; no attack, no AWP (IKL's alpha, beta and T do not apply)"]
    )
    if r.gamma_aug is not None:
        lines.append(f"- gamma_aug (weight of the AutoAugment view): {r.gamma_aug:g}")
    if r.extra_data:
        lines.append(f"- extra data: {r.extra_data}")
    lines.append(f"- source: {r.source}")
    if r.note:
        lines.append(f"- note: {r.note}")
    if entry.provenance.training_config:
        lines.append(
            f"- full configuration: `training/configs/{entry.provenance.training_config}` in the dkl_zoo repository"
        )
    return "\n".join(lines)


def lab_notes(entry: ModelEntry) -> str:
    """The entry's lab notes (Markdown shipped in ``dkl_zoo/lab_notes``), or "" when it has none."""
    if entry.provenance.lab_notes is None:
        return ""
    from importlib.resources import files

    return files("dkl_zoo").joinpath("lab_notes", entry.provenance.lab_notes).read_text(encoding="utf-8")


def _lab_notes_section(entry: ModelEntry) -> str:
    text = lab_notes(entry)
    if not text:
        return ""
    body = text.split("\n", 1)[1].strip() if text.startswith("# ") else text.strip()
    return f"\n## Lab notes\n\n{body}\n"


def _classes_source(entry: ModelEntry) -> str:
    from ..categories import SOURCES

    return SOURCES[entry.dataset]


def _what(entry: ModelEntry) -> str:
    """The card's first sentence: which method trained what, for which data and threat model."""
    data = _DATASET_NAMES.get(entry.dataset, entry.dataset)
    threat = f"Threat model {entry.provenance.threat_model}, eps {entry.provenance.eps_label}."
    if entry.provenance.method == "standard":
        return (
            f"Standard (non-robust) {entry.arch.label} for {data}: trained without attacks, on cross-entropy "
            f"alone, as the contrast to the IKL-AT models of *Decoupled Kullback-Leibler Divergence Loss* (Cui et "
            f"al., NeurIPS 2024, [arXiv 2305.13948]({entry.provenance.paper})). Evaluated under the same threat "
            f"model as they are: {entry.provenance.threat_model}, eps {entry.provenance.eps_label}."
        )
    labels = entry.provenance.method_labels
    method = "GKL-AT" if labels and all(m.label == "GKL-AT" for m in labels) else "IKL-AT"
    loss = "Generalized KL (GKL) loss" if method == "GKL-AT" else "Improved KL (IKL) loss"
    return (
        f"{method} {entry.arch.label} for {data}, adversarially trained with\nthe {loss} of *Decoupled "
        f"Kullback-Leibler Divergence Loss* (Cui et al., NeurIPS 2024,\n[arXiv 2305.13948]"
        f"({entry.provenance.paper})). {threat}"
    )


def _named(entry: ModelEntry) -> str:
    names = "; ".join(f"{m.label} in <{m.source}>" for m in entry.provenance.method_labels)
    return f"\nThe release names it: {names}.\n" if names else ""


def _size(entry: ModelEntry) -> str:
    metrics = entry.metrics
    if metrics is None:
        return ""
    return (
        f" Size: {metrics.parameters:,} parameters, {metrics.gflops:.3g} GFLOPs per image "
        "(`torch.utils.flop_counter`, which counts a multiply-add as 2 FLOPs; torchvision's GFLOPs count it once), "
        f"a {metrics.file_mb:.1f} MB weights file."
    )


def _body(entry: ModelEntry) -> str:
    head = entry.headline
    other = [r for r in entry.provenance.reported if r.source != SOURCE_README]
    disagreements = "\n".join(f"- {n}" for n in entry.provenance.notes) or "- The sources agree."
    rb = entry.provenance.robustbench_name
    rb_usage = (
        f"""```python
import dkl_zoo  # registers the timm alias RobustBench looks up first
from robustbench.utils import load_model
model = load_model("{rb}", dataset="{entry.dataset}", threat_model="{entry.provenance.threat_model}")
```"""
        if rb
        else "This checkpoint is not on the RobustBench leaderboard."
    )
    pin = (
        f"revision `{entry.weights.revision}`, sha256 `{entry.weights.sha256}`"
        if entry.weights.sha256
        else "not pinned yet: until it is, every load is checked against the sha256 the Hub reports"
    )
    sources = "\n".join(
        f"- {s.kind}: file id `{s.google_drive_id}` (<{s.url}>)" for s in entry.weights.original_sources
    )
    if entry.weights.embedded_file:
        origin = (
            f"These weights were trained by this project with its own `training/` code (see the recipe below) "
            f"and ship inside the `dkl-zoo` package: `dkl_zoo.load` needs no network for them. sha256 "
            f"`{entry.weights.sha256}`."
        )
    else:
        origin = (
            f"Original release: <https://github.com/jiequancui/DKL>. Original checkpoint files:\n{sources}\n\n"
            "Weights here are those files converted to safetensors by `dkl_zoo.original.convert` (no pickle, no code "
            f"executed); the conversion is deterministic. Integrity: {pin}."
        )
    return f"""
# {entry.name}

{_what(entry)}
{entry.provenance.description}{_named(entry)}

**{head.clean_acc:.2f} % clean, {head.robust_acc:.2f} % AutoAttack** ({head.source}{
        "; see the provenance table for the other sources" if other else ""
    }).

## Use

Inputs are float NCHW images in [0, 1], size {"×".join(map(str, entry.arch.input_size))}; normalisation:
{entry.arch.normalization}.{_size(entry)} The model returns logits for {entry.num_classes} classes, in this order ({
        _classes_source(entry)
    }):
{", ".join(f"`{name}`" for name in entry.categories)}.

```python
import dkl_zoo
model = dkl_zoo.load("{entry.name}")          # eval mode, weights sha256-checked on every load
print(dkl_zoo.predict(model, "my_image.png")[0])   # any image file: resized, converted, named
```

```python
import dkl_zoo, timm
model = timm.create_model("{entry.timm_name}", pretrained=True)
```

{rb_usage}

## Provenance

{_table(entry)}

{disagreements}

{origin}

## Training recipe

{_recipe(entry)}
{_lab_notes_section(entry)}
## License

{entry.provenance.license_note}

## Citation

```bibtex
{entry.provenance.citation}
```
"""


def render_card(entry: ModelEntry | str) -> str:
    """The full README.md (YAML metadata + body) of one entry."""
    entry = get_entry(entry) if isinstance(entry, str) else entry
    card = ModelCard(f"---\n{card_data(entry).to_yaml()}\n---\n{_body(entry)}")
    return str(card).rstrip("\n") + "\n"


def checkout_cards_dir(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The ``model_cards`` folder of the dkl_zoo checkout that holds ``start`` (default: the working directory),
    or None outside one: the cards are a checkout's files, not the installed package's."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        project = folder / "pyproject.toml"
        if project.is_file() and 'name = "dkl-zoo"' in project.read_text() and (folder / "model_cards").is_dir():
            return folder / "model_cards"
    return None


def write_cards(out_dir: str | os.PathLike[str]) -> list[Path]:
    """(Re)write ``<out_dir>/<name>/README.md`` for every entry."""
    written = []
    for name in sorted(REGISTRY):
        path = Path(out_dir) / name / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_card(get_entry(name)))  # with its pin: the checked-in card shows the commit
        written.append(path)
    return written


def stale_cards(out_dir: str | os.PathLike[str]) -> list[str]:
    """Names whose checked-in card differs from what the registry renders (or is missing)."""
    stale = []
    for name in sorted(REGISTRY):
        path = Path(out_dir) / name / "README.md"
        if not path.exists() or path.read_text() != render_card(get_entry(name)):
            stale.append(name)
    return stale
