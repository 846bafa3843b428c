"""Every place this package reaches into another library, in one module, each with the versions it was checked
against and a clear error outside them.

1. AutoAttack (pyautoattack 0.2, or the git package ``autoattack``): how one attack call is configured and its
   sanity checks run, as AutoAttack's own loop does it, through its attack objects' attributes; one APGD run
   with a chosen loss and target (``attack_single_run``).
2. RobustBench 1.1.1 imports the git package ``autoattack``, absent from PyPI: a module of that name is
   registered (``install_autoattack_module``).
3. huggingface_hub (1.x, 2.x; httpx): a response hook on its shared client enforces a total download deadline.
4. timm: our models register when timm is imported (an import hook, so ``import dkl_zoo`` imports neither torch
   nor timm), and ``hf-hub:`` configs are read through our Hub code when timm's own Hub support is off (timm
   1.0.9, which robustbench pins, cannot import huggingface_hub 2.x).
5. Gradio 6: the demo's image inputs hand the uploaded file to ``dkl_zoo`` instead of decoding it with PIL
   first (``read_gradio_uploads``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import DklZooError, IncompatibleDependencyError, MissingDependencyError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "CHECKED",
    "check_version",
    "autoattack_module",
    "is_pypi_api",
    "autoattack_attack_batch",
    "autoattack_sanity_checks",
    "reset_autoattack_checks",
    "apgd_single_run",
    "install_autoattack_module",
    "add_hub_response_hook",
    "install_timm_import_hook",
    "route_timm_hub_configs",
    "read_gradio_uploads",
]

CHECKED = {
    "pyautoattack": ">=0.2,<0.3",
    "huggingface_hub": ">=1.0,<3",
    "timm": ">=0.9,<2",
    "gradio": ">=6,<7",
}
"""The releases each patch was written and tested against (pip's specifier syntax)."""


def check_version(distribution: str, what: str) -> None:
    """Refuse a release of ``distribution`` outside ``CHECKED`` (a missing one is not this check's business).

    Raises:
        IncompatibleDependencyError: naming the installed release, the checked range and the fix.
    """
    from importlib import metadata

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    try:
        installed = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return
    if Version(installed) not in SpecifierSet(CHECKED[distribution]):
        raise IncompatibleDependencyError(
            f"{what} reaches into {distribution}, and was checked against {distribution}{CHECKED[distribution]}; "
            f"{distribution} {installed} is installed: pip install '{distribution}{CHECKED[distribution]}'"
        )


def _check_autoattack() -> None:
    if autoattack_module().__name__ == "pyautoattack":
        check_version("pyautoattack", "dkl_zoo's AutoAttack runner")


# ---- 1. AutoAttack's attack objects ------------------------------------------------------------------------


def autoattack_module() -> types.ModuleType:
    """The installed AutoAttack: pyautoattack (PyPI) first, else the git package ``autoattack``."""
    for name in ("pyautoattack", "autoattack"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "__dkl_zoo_shim__", False):
            continue
        if hasattr(module, "AutoAttack"):
            return module
    raise MissingDependencyError(
        "AutoAttack is not installed. Install it with `pip install 'dkl-zoo[eval]'` (it brings the PyPI "
        "package pyautoattack)."
    )


def is_pypi_api(module: types.ModuleType) -> bool:
    """True for pyautoattack's keyword API (``attacks=``), False for the git package's (``attacks_to_run=``)."""
    import inspect

    return "attacks" in inspect.signature(module.AutoAttack.__init__).parameters


def autoattack_attack_batch(adversary: Any, attack: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One attack call, configured exactly as AutoAttack's loop does it (its attack objects' attributes)."""
    _check_autoattack()
    if attack == "apgd-ce":
        adversary.apgd.loss = "ce"
        adversary.apgd.seed = adversary.get_seed()
        return adversary.apgd.perturb(x, y)
    if attack == "apgd-dlr":
        adversary.apgd.loss = "dlr"
        adversary.apgd.seed = adversary.get_seed()
        return adversary.apgd.perturb(x, y)
    if attack == "fab":
        adversary.fab.targeted = False
        adversary.fab.seed = adversary.get_seed()
        return adversary.fab.perturb(x, y)
    if attack == "square":
        adversary.square.seed = adversary.get_seed()
        return adversary.square.perturb(x, y)
    if attack == "apgd-t":
        adversary.apgd_targeted.seed = adversary.get_seed()
        return adversary.apgd_targeted.perturb(x, y)
    if attack == "fab-t":
        adversary.fab.targeted = True
        adversary.fab.n_restarts = 1
        adversary.fab.seed = adversary.get_seed()
        return adversary.fab.perturb(x, y)
    from .errors import InvalidArgumentError

    raise InvalidArgumentError(f"unknown attack {attack!r}")


def autoattack_sanity_checks(
    adversary: Any,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: Any,
    logger: logging.Logger,
    version: str,
) -> None:
    """AutoAttack's sanity checks on the first batch (randomness, output range, dynamic defences, class count),
    its module-global counters reset first and the caller's trace function given back after."""
    _check_autoattack()
    checks = importlib.import_module(type(adversary).__module__.rsplit(".", 1)[0] + ".checks")
    reset_autoattack_checks()
    xb, yb = x[:batch_size].to(device), y[:batch_size].to(device)
    if version != "rand":
        checks.check_randomized(model, xb, yb, bs=batch_size, logger=logger)
    n_classes = checks.check_range_output(model, xb, logger=logger)
    tracer = sys.gettrace()
    try:
        checks.check_dynamic(model, xb, False, logger=logger)
    finally:  # the check ends with sys.settrace(None): a debugger or coverage measurement would stop silently
        sys.settrace(tracer)
    checks.check_n_classes(
        n_classes,
        adversary.attacks_to_run,
        adversary.apgd_targeted.n_target_classes,
        adversary.fab.n_target_classes,
        logger=logger,
    )


def reset_autoattack_checks() -> None:
    """AutoAttack's dynamic-defence counters are module-global: one flagged model flags every later one."""
    try:
        checks = importlib.import_module(autoattack_module().__name__ + ".checks")
    except (ImportError, DklZooError):
        return
    funcs = getattr(checks, "funcs", None)
    if isinstance(funcs, dict):
        for key in funcs:
            funcs[key] = 0


def apgd_single_run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int,
    seed: int,
    target: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """One run of AutoAttack's APGD on cross-entropy, Linf, from a seeded random start, without restarts.

    Untargeted (``target=None``): the adversarial image of each example it fools, else the point of highest
    loss it reached (the strongest attempt, to be shown). Targeted: APGD on the targeted cross-entropy (as
    AutoAttack's ``APGDAttack_targeted`` computes it with ``loss="ce-targeted"``), the point of highest loss.
    The global random state is left as it was.
    """
    import torch

    _check_autoattack()
    module = autoattack_module()
    apgd_module = importlib.import_module(module.__name__ + ".autopgd_base")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if target is None:
            attack = apgd_module.APGDAttack(
                model, n_iter=steps, norm="Linf", eps=eps, seed=seed, loss="ce", device=device
            )
        else:
            attack = apgd_module.APGDAttack_targeted(
                model, n_iter=steps, norm="Linf", eps=eps, seed=seed, device=device
            )
            attack.loss = "ce-targeted"
            attack.y_target = target.to(device)
        attack.init_hyperparam(x)
        best, still_correct, _, adversarial = attack.attack_single_run(x.to(device), y.to(device))
    if target is not None:
        return best.detach()
    fooled = ~still_correct.bool()
    return torch.where(fooled.view(-1, *([1] * (x.dim() - 1))), adversarial, best).detach()


# ---- 2. the module robustbench imports -------------------------------------------------------------------


def install_autoattack_module(auto_attack: type, evaluation_state: type) -> None:
    """Register a module ``autoattack`` (with ``autoattack.state``) offering ``auto_attack`` and
    ``evaluation_state``, unless the git package is installed, which robustbench then uses as intended."""
    try:
        real = importlib.import_module("autoattack")
        if not getattr(real, "__dkl_zoo_shim__", False):
            return
    except ImportError:
        pass
    shim = types.ModuleType("autoattack")
    shim.__dict__.update(
        __dkl_zoo_shim__=True,
        AutoAttack=auto_attack,
        __doc__="git-API AutoAttack over pyautoattack, provided by dkl_zoo.integrations.robustbench",
    )
    state = types.ModuleType("autoattack.state")
    state.EvaluationState = evaluation_state  # type: ignore[attr-defined]
    shim.state = state  # type: ignore[attr-defined]
    shim.__path__ = []  # a package, so `from autoattack.state import ...` resolves
    sys.modules["autoattack"] = shim
    sys.modules["autoattack.state"] = state


# ---- 3. huggingface_hub's HTTP client --------------------------------------------------------------------


def add_hub_response_hook(hook: Callable[[Any], None]) -> None:
    """Put ``hook`` on huggingface_hub's current shared httpx client (idempotent): it sees every response."""
    check_version("huggingface_hub", "the download deadline")
    from huggingface_hub import get_session

    hooks = get_session().event_hooks
    responses = list(hooks.get("response", []))
    if hook not in responses:
        hooks["response"] = responses + [hook]
        get_session().event_hooks = hooks


# ---- 4. timm ---------------------------------------------------------------------------------------------


class _TimmImportHook(importlib.abc.MetaPathFinder):
    """Runs a registration right after ``import timm`` finishes, wherever that import happens."""

    def __init__(self, register: Callable[[], None]) -> None:
        self.register = register

    def find_spec(self, fullname: str, path: Any, target: Any = None):  # type: ignore[no-untyped-def]
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("timm")
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module
        register = self.register

        def exec_module(module: Any) -> None:
            original(module)
            try:
                check_version("timm", "dkl_zoo's timm registration")
                register()
            except Exception as error:  # never break `import timm` for its other users
                import warnings

                warnings.warn(f"dkl_zoo could not register its timm models: {error}", RuntimeWarning, stacklevel=2)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install_timm_import_hook(register: Callable[[], None]) -> None:
    """Call ``register`` now when timm is already imported, otherwise right after it is."""
    if "timm" in sys.modules:
        register()
    elif not any(isinstance(f, _TimmImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TimmImportHook(register))


def route_timm_hub_configs(loader: Callable[[str], Any]) -> None:
    """When timm's own Hub support is off, let ``timm.create_model("hf-hub:...")`` read configs with ``loader``."""
    check_version("timm", "dkl_zoo's hf-hub: support for timm")
    from timm.models import _factory, _hub

    if not _hub.has_hf_hub(False):
        _factory.load_model_config_from_hf = loader


# ---- 5. Gradio -------------------------------------------------------------------------------------------


def read_gradio_uploads(component: Any, read: Callable[[str | None, str | None, str | None], Any]) -> None:
    """Make the ``gradio.Image`` input ``component`` pass an uploaded file to ``read(path, original_name, None)``
    and a pasted image to ``read(None, None, data_url)`` instead of decoding either with PIL itself (whose
    failures on a text file or an empty one are foreign errors, and which would skip the limits a file gets).
    Only this instance's ``preprocess`` changes: a subclass would make Gradio write a ``.pyi`` stub beside the
    module that defines it."""
    check_version("gradio", "dkl_zoo's web demo")

    def preprocess(payload: Any) -> Any:
        if payload is None:
            return None
        if (payload.url or "").startswith("data:"):
            return read(None, None, payload.url)
        if payload.path is None:
            return read(None, None, "data:,")  # neither a file nor data: an empty paste
        return read(payload.path, payload.orig_name, None)

    component.preprocess = preprocess
