"""How other libraries reach the zoo: timm (``create_model``, ``hf-hub:`` names) and RobustBench (``load_model``,
``benchmark``). The top layer: nothing in the package below imports it. Importing this package imports neither
torch nor timm."""
