"""What the maintainers' verbs use (``dkl-zoo convert / publish / release / reference / cards``): releasing the
original checkpoints to the Hub (``release``), uploading a repo folder (``publish``) and the model cards
(``cards``). Users of the zoo need none of it."""
