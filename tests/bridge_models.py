"""Plain torch.nn models for the import tests (not a test module: `cnnshape import` loads
it by path). Residual, inception-like branching, depthwise, and attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, inp: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.down = None
        if stride != 1 or inp != planes:
            self.down = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.down is None else self.down(x)
        return F.relu(out + shortcut)


class Residual(nn.Module):
    """A small ResNet: residual blocks with and without projection shortcuts."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2), BasicBlock(64, 64))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class InceptionModule(nn.Module):
    def __init__(self, inp: int, width: int):
        super().__init__()
        self.branch1 = nn.Conv2d(inp, width, 1)
        self.branch3 = nn.Sequential(
            nn.Conv2d(inp, width // 2, 1), nn.ReLU(), nn.Conv2d(width // 2, width, 3, padding=1)
        )
        self.branch5 = nn.Sequential(
            nn.Conv2d(inp, width // 4, 1), nn.ReLU(), nn.Conv2d(width // 4, width, 5, padding=2)
        )
        self.pool = nn.MaxPool2d(3, 1, 1)
        self.branch_pool = nn.Conv2d(inp, width, 1)

    def forward(self, x):
        branches = [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(self.pool(x))]
        return torch.cat(branches, 1)


class Branching(nn.Module):
    """Inception-like: parallel branches joined by torch.cat."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.mixed1 = InceptionModule(32, 16)
        self.mixed2 = InceptionModule(64, 16)
        self.mixed3 = InceptionModule(64, 32)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 7))

    def forward(self, x):
        return self.classifier(self.mixed3(self.mixed2(self.mixed1(F.relu(self.stem(x))))))


class Depthwise(nn.Module):
    """MobileNet-like: depthwise (groups=C) and pointwise convolutions, global mean."""

    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(inplace=True)]
        for inp, out, stride in [(32, 64, 1), (64, 128, 2), (128, 128, 1)]:
            layers += [
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.ReLU6(inplace=True),
                nn.Conv2d(inp, out, 1, bias=False),
                nn.BatchNorm2d(out),
                nn.Hardswish(),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(128, 5)

    def forward(self, x):
        return self.head(self.features(x).mean([2, 3]))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attention(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Attention(nn.Module):
    """A tiny vision transformer: patches, nn.MultiheadAttention blocks, a
    TransformerEncoderLayer, and the first token's features."""

    def __init__(self, dim: int = 48, heads: int = 4):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 8, 8)
        self.blocks = nn.Sequential(EncoderBlock(dim, heads), EncoderBlock(dim, heads))
        self.encoder = nn.TransformerEncoderLayer(dim, heads, 96, dropout=0.0, batch_first=True, activation="gelu")
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = self.encoder(self.blocks(x))
        return self.head(x[:, 0])


class Unmappable(nn.Module):
    """Uses a bare parameter and torch.sort: neither has a cnnshape layer kind."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        x = self.conv(x) * self.scale
        return torch.sort(x, dim=1).values


def residual_factory() -> nn.Module:
    return Residual(num_classes=4)


class UnusedHead(nn.Module):
    """A module with parameters forward never calls (GoogLeNet's auxiliary classifiers in
    eval mode): the spec has fewer parameters than PyTorch, so import rejects it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.aux = nn.Linear(4, 2)

    def forward(self, x):
        return self.conv(x)
