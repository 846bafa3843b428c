"""The maintainers' verbs: converting and publishing checkpoints, releasing them with their pins, the model cards."""
