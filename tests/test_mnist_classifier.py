"""The MNIST evaluation classifiers: the released weights first, else trained once and cached."""

import argparse
import hashlib
import json

import pytest
import torch

from common.io import load_checkpoint
from datasets.mnist_pairs import load_mnist
from eval import mnist
from eval.mnist import CLASSIFIERS, RELEASED_CLASSIFIERS, load_or_train_classifier, weights_digest
from models.mnist_classifier import MNISTClassifier


def test_the_released_classifiers_are_the_ones_their_manifest_describes():
    manifest = json.loads((RELEASED_CLASSIFIERS / "manifest.json").read_text())
    assert sorted(e["recipe"] for e in manifest) == sorted(CLASSIFIERS)
    for entry in manifest:
        path = RELEASED_CLASSIFIERS / entry["file"]
        assert entry["file"] == CLASSIFIERS[entry["recipe"]][0]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        state = load_checkpoint(path)
        model = MNISTClassifier()
        model.load_state_dict(state["model"])
        assert weights_digest(model) == entry["weights"]
        assert round(state["test_accuracy"], 4) == entry["test_accuracy"]


def test_weights_digest_sees_one_changed_value():
    a, b = MNISTClassifier(), MNISTClassifier()
    b.load_state_dict(a.state_dict())
    assert weights_digest(a) == weights_digest(b)
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-6
    assert weights_digest(a) != weights_digest(b)


def _data(mnist_root):
    return load_mnist(str(mnist_root), train=True), load_mnist(str(mnist_root), train=False)


def test_a_released_classifier_is_used_before_the_cache_and_never_trained(mnist_root, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained although a released classifier exists")

    monkeypatch.setattr(mnist, "train_classifier", refuse)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CLASSIFIERS["ours"][0]).write_bytes(b"not a checkpoint")  # would fail if read
    train, test = _data(mnist_root)
    model, acc = load_or_train_classifier(cache, "ours", train, test, torch.device("cpu"), progress=False)
    released = {e["recipe"]: e for e in json.loads((RELEASED_CLASSIFIERS / "manifest.json").read_text())}
    assert weights_digest(model) == released["ours"]["weights"] and round(acc, 4) == released["ours"]["test_accuracy"]


def test_without_a_release_the_classifier_is_trained_once_and_cached(mnist_root, tmp_path, monkeypatch):
    trained, real = [], mnist.train_classifier

    def train_classifier(images, labels, lr, progress, seed):
        trained.append(lr)
        return real(images, labels, epochs=1, lr=lr, seed=seed, progress=False)

    monkeypatch.setattr(mnist, "train_classifier", train_classifier)
    cache, nothing_released = tmp_path / "cache", tmp_path / "no_release"
    train, test = _data(mnist_root)
    first, _ = load_or_train_classifier(cache, "reference", train, test, torch.device("cpu"), progress=False,
                                        released=nothing_released)
    again, _ = load_or_train_classifier(cache, "reference", train, test, torch.device("cpu"), progress=False,
                                        released=nothing_released)
    assert trained == [1e-4] and (cache / CLASSIFIERS["reference"][0]).is_file()
    assert weights_digest(first) == weights_digest(again)


def test_a_recipe_with_a_seed_is_trained_with_that_seed_and_cached_apart(mnist_root, tmp_path):
    assert mnist.classifier_recipe("reference@12") == "reference@12"
    for bad in ("nope", "ours@x", "ours@-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a classifier recipe"):
            mnist.classifier_recipe(bad)
    train, test = _data(mnist_root)
    no_release = tmp_path / "none"
    plain, _ = load_or_train_classifier(tmp_path, "ours", train, test, torch.device("cpu"), False, no_release)
    seeded, _ = load_or_train_classifier(tmp_path, "ours@3", train, test, torch.device("cpu"), False, no_release)
    assert (tmp_path / CLASSIFIERS["ours"][0].replace(".pt", "_seed3.pt")).is_file()
    assert weights_digest(plain) != weights_digest(seeded)
    assert weights_digest(seeded) == weights_digest(mnist.train_classifier(*train, lr=1e-3, seed=3, progress=False))
    # the released weights stand for seed 0 only: a seeded recipe never takes them
    again, _ = load_or_train_classifier(tmp_path, "ours@3", train, test, torch.device("cpu"), False)
    assert weights_digest(again) == weights_digest(seeded)
