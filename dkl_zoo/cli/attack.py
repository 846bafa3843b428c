"""``dkl-zoo attack``: the adversarial example of an image, its figure and its lossless PNG."""

from __future__ import annotations

import argparse
import sys

from .. import _choices as choices
from ..errors import InvalidArgumentError
from ._common import UsageError, parse_eps, positive_int, prepare_outputs


def add_parsers(verbs) -> None:  # type: ignore[no-untyped-def]
    """Register this module's verbs on the ``dkl-zoo`` parser."""
    p = verbs.add_parser(
        "attack",
        help="the adversarial example of an image, drawn as a figure",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("name", help="registry name")
    p.add_argument("image", help="an image file")
    p.add_argument("--eps", default=None, help="Linf budget, e.g. 8/255 (default: the entry's)")
    p.add_argument("--attack", default="apgd-ce", choices=choices.IMAGE_ATTACKS)
    p.add_argument("--steps", type=positive_int, default=100, help="attack iterations")
    p.add_argument("--target", default=None, help="class name or index to aim at (default: any other class)")
    p.add_argument("--seed", type=int, default=0, help="seed of the attack's random start")
    p.add_argument("--out", required=True, metavar="FIG.png", help="the figure")
    p.add_argument("--save-adv", default=None, metavar="ADV.png", help="the adversarial image as a lossless PNG")
    p.add_argument("--compare", default=None, metavar="NAME2", help="attack a second model too (a row of the figure)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.set_defaults(func=run_attack)


def run_attack(args: argparse.Namespace) -> int:
    from .._figure_files import figure_format, save_figure
    from .._terminal import printable
    from ..adversarial import attack_image, save_png
    from ..figure import attack_figure

    eps = parse_eps(args.eps) if args.eps is not None else None
    prepare_outputs({"--out": args.out, "--save-adv": args.save_adv}, inputs=[args.image])
    try:
        figure_format(args.out)  # checked before the attack, not after it
    except InvalidArgumentError as error:
        raise UsageError(f"--out: {error}") from None
    if args.save_adv and not args.save_adv.lower().endswith(".png"):
        raise UsageError(
            f"--save-adv {args.save_adv}: the adversarial image is written as a lossless PNG; give a "
            "file name ending in .png"
        )
    names = [args.name] + ([args.compare] if args.compare else [])
    results = [
        attack_image(
            name,
            args.image,
            eps=eps,
            attack=args.attack,
            steps=args.steps,
            target=args.target,
            seed=args.seed,
            device=args.device,
        )
        for name in names
    ]
    for result in results:
        print(result.summary())
    save_figure(attack_figure(results), args.out)
    print(f"figure: {printable(args.out)}")
    if args.save_adv:
        from ..prediction import predict

        first = results[0]
        save_png(first.adversarial, args.save_adv)
        again = predict(args.name, args.save_adv, top_k=1, device=args.device, progress=False)[0]
        print(
            f"adversarial image: {printable(args.save_adv)} (lossless PNG, Linf {first.linf:.4f} <= eps "
            f"{first.eps:.4g} from the 8-bit input); read back, {args.name} answers {again}"
        )
        if again.index != first.after.index:  # cannot happen with lossless files; said if it ever does
            print(f"warning: the saved file is classified {again.label}, not {first.after.label}", file=sys.stderr)
        if first.rounding_undid_attack:
            print("note: rounding to 8 bits undid the attack: the saved image is not adversarial", file=sys.stderr)
    return 0
