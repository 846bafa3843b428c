"""Tests that each fail with one small, plausible bug in a critical path and pass without it.

Each names the bug it catches: a pin compared on a prefix, strict loading that lets extra keys through,
attacks started on misclassified examples, an evaluation state not saved after every batch, AWP switched
on one epoch late, the Fashion-MNIST eps default, and pickled code run during conversion.
"""

from __future__ import annotations

import copy
import hashlib
import math
import pickle
from pathlib import Path

import pytest
import torch

import dkl_zoo
from dkl_zoo.evaluation.runner import run_autoattack
from dkl_zoo._autoattack import make_adversary
from dkl_zoo.errors import IntegrityError, StateDictMismatchError, UnsafeCheckpointError
from dkl_zoo._integrity import verify_file
from dkl_zoo.losses import ClassPrior
from dkl_zoo.models import WideResNet, assign_state_dict
from dkl_zoo.registry import REGISTRY
from training.config import load_config
from training.ikl_at import AdversarialWeightPerturbation, IKLATStep

from conftest import ROOT
from evalkit import ColourClassifier, as_tensor, colour_images, labels_for

CONFIGS = ROOT / "training" / "configs"
X = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _last_digit_changed(sha256: str) -> str:
    return sha256[:-1] + ("0" if sha256[-1] != "0" else "1")


# ---- a pin that differs only in its last hex digit ----------------------------------------------------------

def test_pin_differing_in_the_last_hex_digit_is_refused_by_verify_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights")
    actual = hashlib.sha256(b"weights").hexdigest()
    assert verify_file(path, expected_sha256=actual, hub_etag=None) == (actual, "sha256 pin")
    with pytest.raises(IntegrityError):
        verify_file(path, expected_sha256=_last_digit_changed(actual), hub_etag=None)
    with pytest.raises(IntegrityError):  # the Hub's LFS ETag, compared the same way
        verify_file(path, expected_sha256=None, hub_etag=_last_digit_changed(actual))


def test_pinned_hub_load_with_the_last_hex_digit_wrong_is_refused(hub, published, cache_dir):
    entry, reference, sha = published
    good = hashlib.sha256(hub.files(entry.repo_id)["model.safetensors"]).hexdigest()
    model = dkl_zoo.load(entry.with_weights(revision=sha, sha256=good), endpoint=hub.url, cache_dir=cache_dir)
    assert torch.equal(model(X), reference(X))
    with pytest.raises(IntegrityError):
        dkl_zoo.load(entry.with_weights(revision=sha, sha256=_last_digit_changed(good)),
                     endpoint=hub.url, cache_dir=cache_dir)


def test_packaged_entry_with_the_last_hex_digit_wrong_is_refused_and_the_package_file_kept():
    entry = REGISTRY["ikl-at-fmnist-wrn10-1"]
    with pytest.raises(IntegrityError):
        dkl_zoo.load(entry.with_weights(sha256=_last_digit_changed(entry.weights.sha256)))
    packaged = Path(dkl_zoo.__file__).parent / entry.weights.embedded_file
    assert packaged.exists()  # a failed check never deletes a file of the installation
    assert not dkl_zoo.load(entry).training


# ---- strict assignment: one extra tensor -------------------------------------------------------------------

def test_correct_state_dict_plus_one_extra_tensor_is_refused_naming_the_key():
    state = dict(WideResNet(depth=10, widen_factor=1).state_dict())
    state["head.extra"] = torch.zeros(3)
    with pytest.raises(StateDictMismatchError, match=r"unexpected: head\.extra") as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert info.value.unexpected == ["head.extra"] and info.value.missing == []


# ---- the attack runner: which examples each attack gets, and what a resumed run redoes -----------------------

class AttackSpy:
    """Records every call of AutoAttack's APGD (the real one runs); can stop the run after some calls."""

    def __init__(self, adversary, stop_after: int | None = None) -> None:
        self.real = adversary.apgd.perturb
        self.inputs: list[torch.Tensor] = []
        self.stop_after = stop_after
        adversary.apgd.perturb = self

    def __call__(self, x, y):
        if self.stop_after is not None and len(self.inputs) >= self.stop_after:
            raise KeyboardInterrupt
        self.inputs.append(x.detach().clone())
        return self.real(x, y)


def _data(n: int = 40):
    model = ColourClassifier()
    images = colour_images(n, seed=3)
    labels = torch.tensor(labels_for(model, images))
    labels[::4] = (labels[::4] + 1) % 10  # a quarter misclassified by construction
    x = as_tensor(images)
    return model, x, labels


def _run(model, x, y, *, state_path=None, stop_after=None):
    adversary = make_adversary(model, eps=8 / 255, version="custom", attacks=["apgd-ce", "apgd-dlr"], seed=0)
    spy = AttackSpy(adversary, stop_after)
    outcome = run_autoattack(adversary, model, x, y, batch_size=8, config={"test": 1}, state_path=state_path,
                             progress=False)
    return outcome, spy


def test_first_attack_gets_exactly_the_clean_correct_examples_and_robust_is_a_subset():
    model, x, y = _data()
    outcome, spy = _run(model, x, y)
    with torch.no_grad():
        correct = model(x).argmax(1).eq(y)
    assert torch.equal(outcome.clean_flags, correct) and not correct.all()
    clean_idx = torch.nonzero(correct).flatten()
    first_attack = torch.cat(spy.inputs[: math.ceil(len(clean_idx) / 8)])
    assert torch.equal(first_attack, x[clean_idx])
    assert not (outcome.flags & ~outcome.clean_flags).any()


@pytest.mark.parametrize("k", [1, 3])
def test_resume_after_k_batches_runs_only_the_remaining_batches(tmp_path, k):
    model, x, y = _data()
    whole, spy_whole = _run(model, x, y)
    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        _run(model, x, y, state_path=state, stop_after=k)
    resumed, spy_resumed = _run(model, x, y, state_path=state)
    assert len(spy_resumed.inputs) == len(spy_whole.inputs) - k
    assert all(torch.equal(a, b) for a, b in zip(spy_resumed.inputs, spy_whole.inputs[k:]))
    assert torch.equal(resumed.flags, whole.flags) and resumed.robust_after == whole.robust_after


# ---- AWP switches on at exactly epoch == warmup ------------------------------------------------------------

def _step_result(epoch: int, with_awp: bool) -> dict[str, torch.Tensor]:
    config = load_config(CONFIGS / "smoke.yaml", ["awp.warmup=4", "epochs=10"])
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=1, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    awp = AdversarialWeightPerturbation(model, copy.deepcopy(model), config["lr"], 0.05) if with_awp else None
    step = IKLATStep(config, model, optimizer, ClassPrior(10, temperature=4.0), awp)
    generator = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 3, 32, 32, generator=generator), torch.randint(0, 10, (8,), generator=generator)
    torch.manual_seed(2)
    step(x, y, epoch)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_awp_is_on_at_exactly_the_warmup_epoch_and_off_one_epoch_before():
    def differs(epoch: int) -> bool:
        a, b = _step_result(epoch, True), _step_result(epoch, False)
        return any(not torch.equal(a[k], b[k]) for k in a)

    assert not differs(3), "AWP changed the step one epoch before its warm-up ended"
    assert differs(4), "AWP was off at epoch == warmup"


# ---- direct checks of two defaults ------------------------------------------------------------------------

def test_fashion_mnist_entry_evaluates_at_eps_0_1_by_default_without_the_data_set():
    model = dkl_zoo.load("ikl-at-fmnist-wrn10-1")
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    result = dkl_zoo.evaluate("ikl-at-fmnist-wrn10-1", data=(x, y), n_examples=8, batch_size=8,
                              version="custom", attacks=["apgd-ce"], progress=False)
    assert result.eps == 0.1 and result.dataset == "fashion-mnist" and result.clean_acc == 1.0


def test_convert_never_runs_pickled_code_whatever_error_it_ends_in(tmp_path):
    from dkl_zoo.convert import load_original

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name, write in (("legacy.pt", lambda p: p.write_bytes(pickle.dumps({"state_dict": Exploit()}, protocol=2))),
                        ("zip.pt", lambda p: torch.save({"state_dict": Exploit()}, p))):
        src = tmp_path / name
        write(src)
        with pytest.raises(Exception) as info:  # noqa: PT011 (the marker is the check, the type comes after)
            load_original(src)
        assert not marker.exists(), f"{name}: the pickled payload ran"
        assert isinstance(info.value, UnsafeCheckpointError), info.value


# ---- the builder's remaining joints (found by mutation testing) --------------------------------------------

class _WithConstant(torch.nn.Module):
    """A layer whose non-persistent buffer (like the DM WideResNet's mean/std) is rebuilt, not loaded."""

    def __init__(self, rebuild: bool = True) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.register_buffer("scale", torch.full((2,), 3.0), persistent=False)
        if not rebuild:
            self.reset_non_persistent_buffers = None  # type: ignore[assignment]

    def reset_non_persistent_buffers(self) -> None:
        self.scale = torch.full((2,), 3.0, device=self.linear.weight.device)

    def forward(self, x):
        return self.linear(x) * self.scale


def test_non_persistent_buffers_are_rebuilt_after_a_meta_build():
    weights = {f"0.{k}": v.clone() for k, v in _WithConstant().state_dict().items()}
    with torch.device("meta"):
        outer = torch.nn.Sequential(_WithConstant())
    assign_state_dict(outer, weights)
    assert not any(b.is_meta for b in outer.buffers()) and torch.equal(outer[0].scale, torch.full((2,), 3.0))
    with torch.device("meta"):
        stuck = torch.nn.Sequential(_WithConstant(rebuild=False))
    with pytest.raises(StateDictMismatchError, match=r"missing: 0\.scale"):
        assign_state_dict(stuck, weights)


def test_boolean_tensor_for_an_integer_buffer_is_refused():
    from dkl_zoo.errors import WeightsFormatError

    state = dict(WideResNet(depth=10, widen_factor=1).state_dict())
    state["bn1.num_batches_tracked"] = torch.tensor(True)
    with pytest.raises(WeightsFormatError, match="bn1.num_batches_tracked"):
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)


def test_every_wrongly_typed_tensor_is_named_and_integer_buffers_keep_their_type():
    from dkl_zoo.errors import WeightsFormatError

    model = WideResNet(depth=10, widen_factor=1)
    state = dict(model.state_dict())
    convs = [k for k in state if k.endswith("conv1.weight") or k.endswith("conv2.weight")][:7]
    for key in convs[:2]:
        state[key] = state[key].to(torch.int16)
    with pytest.raises(WeightsFormatError) as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert f"{convs[0]} is torch.int16" in str(info.value) and f"; {convs[1]} is torch.int16" in str(info.value)
    assert "in all" not in str(info.value) and "needs torch.float32. Re-convert" in str(info.value)
    for key in convs[:5]:
        state[key] = state[key].to(torch.int16)
    with pytest.raises(WeightsFormatError) as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert "in all" not in str(info.value) and str(info.value).count("is torch.int16") == 5
    state[convs[5]] = state[convs[5]].to(torch.int16)
    with pytest.raises(WeightsFormatError, match=r"\(6 in all\)") as info:
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    assert str(info.value).count("is torch.int16") == 5
    for key in convs:
        state[key] = state[key].to(torch.int16)
    with pytest.raises(WeightsFormatError, match=r"\(7 in all\)"):
        assign_state_dict(WideResNet(depth=10, widen_factor=1), state)
    as64 = assign_state_dict(WideResNet(depth=10, widen_factor=1), dict(model.state_dict()), dtype=torch.float64)
    assert as64.conv1.weight.dtype == torch.float64 and as64.bn1.num_batches_tracked.dtype == torch.int64


# ---- integrity: what an error says, and what verification returns (joints found by mutation testing) --------

def test_integrity_errors_name_the_file_what_was_expected_and_what_to_do(tmp_path):
    import hashlib as _hashlib

    from dkl_zoo._integrity import LocatedFile, file_digest, git_blob_sha1, verify, verify_or_discard

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights")
    actual = _hashlib.sha256(b"weights").hexdigest()
    cases = [dict(expected_sha256="A" * 64, hub_etag=None), dict(expected_sha256=None, hub_etag="b" * 64),
             dict(expected_sha256=None, hub_etag="c" * 40)]
    for kwargs in cases:
        with pytest.raises(IntegrityError) as info:
            verify_file(path, **kwargs)
        error = info.value
        assert error.path == str(path) and str(path) in str(error)
        assert error.expected == (kwargs["expected_sha256"] or kwargs["hub_etag"]).lower()
        assert error.got == (git_blob_sha1(path) if kwargs["hub_etag"] == "c" * 40 else actual)
        assert error.algorithm == ("git blob sha1" if kwargs["hub_etag"] == "c" * 40 else "sha256")
        assert "It was removed from the cache: load again" in str(error)
    with pytest.raises(IntegrityError) as info:
        verify_file(path, expected_sha256=None, hub_etag=None)
    assert info.value.path == str(path) and info.value.expected == "a hash reported by the Hub"
    assert "No hash reported by the Hub was recorded for this cached file (it was downloaded by another tool" \
        in str(info.value) and "Load once while online, or pin the sha256" in str(info.value)
    assert verify_file(path, expected_sha256=None, hub_etag=actual) == (actual, "sha256 reported by the Hub (LFS ETag)")
    assert verify_file(path, expected_sha256=None, hub_etag=git_blob_sha1(path))[1] == \
        "git blob sha1 reported by the Hub (ETag)"
    verified = verify(LocatedFile(path, "rev-1", actual.upper(), None))
    assert (verified.path, verified.sha256, verified.revision, verified.checked_against) == \
        (path, actual, "rev-1", "sha256 pin")
    # a file with no recorded hash is refused but kept (nothing proves it bad); a mismatch is removed
    with pytest.raises(IntegrityError):
        verify_or_discard(LocatedFile(path, "r", None, None, cache_files=(path,)))
    assert path.exists()
    with pytest.raises(IntegrityError):
        verify_or_discard(LocatedFile(path, "r", "0" * 64, None, cache_files=(path,)))
    assert not path.exists()
    for data in (b"", b"x", bytes(range(256)) * 9000):
        path.write_bytes(data)
        assert file_digest(path) == _hashlib.sha256(data).hexdigest()
        assert git_blob_sha1(path) == _hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ---- documented defaults and the evaluation log (joints found by mutation testing) ---------------------------

def test_documented_defaults_of_the_losses_and_training_helpers():
    from dkl_zoo.losses import IKLLoss, decoupled_kl, ikl_loss, teacher_weights
    from training.ikl_at import AttackBudget, EpochEMA, perturb

    generator = torch.Generator().manual_seed(0)
    t, s = torch.randn(6, 10, generator=generator), torch.randn(6, 10, generator=generator)
    w = torch.softmax(torch.randn(6, 10, generator=generator), dim=1)
    explicit = ikl_loss(s, t, w, alpha=1.0, beta=1.0, gamma=1.0, temperature=1.0, normalize="batch")
    assert torch.equal(ikl_loss(s, t, w), explicit) and torch.equal(IKLLoss()(s, t, w), explicit)
    assert torch.equal(decoupled_kl(s, t), decoupled_kl(s, t, temperature=1.0))
    assert torch.allclose(teacher_weights(t), torch.softmax(t / 100.0, dim=1))
    prior = ClassPrior(10)
    assert (prior.temperature, prior.momentum) == (4.0, 1.0)
    assert EpochEMA().decay == 0.9
    model = WideResNet(depth=10, widen_factor=1).eval()
    x = torch.rand(2, 3, 32, 32, generator=generator)
    budget = AttackBudget(8 / 255, 2 / 255, 2)
    torch.manual_seed(3)
    default = perturb(model, x, w[:2], budget, kind="dkl")
    torch.manual_seed(3)
    assert torch.equal(default, perturb(model, x, w[:2], budget, kind="dkl", normalize="batch", init_std=0.001))


def test_data_fingerprint_depends_on_the_shape_too():
    from dkl_zoo.evaluation.state import fingerprint

    x, y = torch.arange(32.0), torch.arange(2)
    assert fingerprint(x.reshape(2, 1, 4, 4), y) != fingerprint(x.reshape(2, 1, 2, 8), y)
    assert fingerprint(x.reshape(2, 1, 4, 4), y) == fingerprint(x.reshape(2, 1, 4, 4).clone(), y.clone())


def test_evaluation_logs_to_its_file_without_touching_the_root_logger(tmp_path):
    import logging

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    model, x, y = _data(16)
    root, collect = logging.getLogger(), Collect()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        dkl_zoo.evaluate(model, data=(x, y), n_examples=16, batch_size=8, version="custom", attacks=["apgd-ce"],
                         progress=False, log_path=tmp_path / "aa.log")
        assert root.level == logging.DEBUG  # the run leaves the root logger's level alone
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    assert "robust accuracy after APGD-CE" in (tmp_path / "aa.log").read_text()
    # AutoAttack's lines go to the file only: nothing propagates to (or is logged on) the root logger
    assert not [r for r in collect.records if r.name.startswith("dkl_zoo") or "accuracy" in r.getMessage()]
    assert not [h for h in logging.getLogger("dkl_zoo.autoattack").handlers if isinstance(h, logging.FileHandler)]
