"""The project's own trained models, shipped as package data of the ``bitsback`` distribution.

Each sub-folder is one model: ``model.pt`` (weights), ``train_config.yml`` (how it was
trained, which also says its split, bound and particles), ``MODEL_CARD.md`` and
``log.csv`` (per-epoch losses). The folders are data, not Python packages; the model
catalogue (:mod:`bitsback_core.models.catalogue`) finds this folder with
``importlib.resources`` and names each model from its folder by a fixed rule, so adding a
model is adding a folder. :data:`BITSBACK_MODELS` marks this package as ours, so an
unrelated package that happens to be called ``checkpoints`` is never scanned.
"""

BITSBACK_MODELS = True
