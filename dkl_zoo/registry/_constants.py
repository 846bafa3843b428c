"""The paper, its authors and the release: facts every entry shares (URLs, citation, the source labels)."""

from __future__ import annotations

__all__ = [
    "PAPER_URL",
    "RELEASE_URL",
    "RELEASE_COMMIT",
    "CITATION",
    "AUTHORS",
    "LICENSE_NOTE",
    "SOURCE_README",
    "SOURCE_LOG",
    "SOURCE_ROBUSTBENCH",
    "SOURCE_OURS",
]

PAPER_URL = "https://arxiv.org/abs/2305.13948"
RELEASE_URL = "https://github.com/jiequancui/DKL"
RELEASE_COMMIT = "c5e8ad2"
"""The commit of jiequancui/DKL the entries were checked against (its HEAD when they were)."""
CITATION = """@inproceedings{cui2024decoupled,
  title     = {Decoupled Kullback-Leibler Divergence Loss},
  author    = {Cui, Jiequan and Tian, Zhuotao and Zhong, Zhisheng and Qi, Xiaojuan and Yu, Bei and Zhang, Hanwang},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2024}
}"""
AUTHORS = "Jiequan Cui, Zhuotao Tian, Zhisheng Zhong, Xiaojuan Qi, Bei Yu, Hanwang Zhang"
LICENSE_NOTE = (
    "No license file accompanies the released weights or code in the copy we checked; the weights are "
    "redistributed for research use with attribution. Ask the authors before commercial use."
)

SOURCE_README = "README"
SOURCE_LOG = "AutoAttack log"
SOURCE_ROBUSTBENCH = "RobustBench"
SOURCE_OURS = "dkl_zoo AutoAttack evaluation"
