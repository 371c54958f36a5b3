"""The MNIST classifier whose hidden layer defines the PairedMNIST FID
(paper App. A.1, Table 3)."""

from __future__ import annotations

from torch import Tensor, nn


class MNISTClassifier(nn.Module):
    """x: (B, 1, 28, 28) in [0, 1] -> (B, 10) class logits.

    conv 5x5 x10, avgpool 2, conv 5x5 x20, avgpool 2, FC 320 -> 50 (the FID
    features), dropout 0.5 while training, FC 50 -> 10; LeakyReLU after each
    pooling and FC1. The reference trained it this way; its FC1 features set
    the scale of the paper's FID values.
    """

    feature_dim = 50

    def __init__(self) -> None:
        super().__init__()
        self.features_net = nn.Sequential(
            nn.Conv2d(1, 10, 5), nn.AvgPool2d(2), nn.LeakyReLU(),
            nn.Conv2d(10, 20, 5), nn.AvgPool2d(2), nn.LeakyReLU(),
            nn.Flatten(), nn.Linear(320, 50), nn.LeakyReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(50, 10))

    def features(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) -> (B, 50) activations of FC1."""
        return self.features_net(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
