"""The bottom layer: small pieces every other package may import.

It imports nothing of this repository, so ``models/``, ``eval/`` and
``datasets/`` can share these without reaching up into ``training/`` (the CLI
layer). ``tests/test_layers.py`` checks the import rules.
"""
