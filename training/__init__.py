"""IKL-AT training code: run from a checkout as ``python -m training.train --config training/configs/<name>.yaml``."""
