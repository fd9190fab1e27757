#!/usr/bin/python3
"""The reference numbers of tests/nn/test_segmentation.cpp, computed by PyTorch (float64) and numpy.

usage: segmentation_reference.py   prints C++ initializers; paste them into the test when the inputs change.
The inputs are the test's formulas: logits[i] = 3 sin(0.7 i + 0.3) over [2,3,4,3] channels-last, the
mask (7 j + 3) mod 3 with 255 where j mod 5 = 2; one sigmoid channel z[j] = 2.5 sin(0.9 j + 0.1) against
(5 j + 1) mod 2 with 255 where j mod 7 = 3; sample weights [1, 0.25], class weights [0.5, 2, 1.5].
"""
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
N, H, W, C, IGNORE = 2, 3, 4, 3, 255
P = N * H * W
i = torch.arange(P * C, dtype=torch.float64)
logits = (3 * torch.sin(0.7 * i + 0.3)).view(N, H, W, C)
j = torch.arange(P)
mask = ((7 * j + 3) % 3).view(N, H, W)
mask[(j % 5 == 2).view(N, H, W)] = IGNORE
valid = mask != IGNORE
safe = torch.where(valid, mask, 0)
sw = torch.tensor([1.0, 0.25])
cw = torch.tensor([0.5, 2.0, 1.5])


def show(name, t):
    v = t.detach().reshape(-1).tolist()
    print(f"const std::vector<double> {name} = {{{', '.join(repr(x) for x in v)}}};")


def grad_of(f, x):
    x = x.clone().requires_grad_(True)
    loss = f(x)
    loss.backward()
    return loss, x.grad


# Sparse crossentropy over the class axis, ignore_index left out of the mean (PyTorch's CrossEntropyLoss).
ce = lambda z: F.cross_entropy(z.permute(0, 3, 1, 2), mask, ignore_index=IGNORE)
loss, g = grad_of(ce, logits)
show("kCe", loss)
show("kCeGrad", g)
# Weighted: each pixel's loss times its sample's and its class's weight, over the count of counted pixels.
def ce_weighted(z):
    per = F.cross_entropy(z.permute(0, 3, 1, 2), mask, ignore_index=IGNORE, reduction="none")
    return (per * sw.view(N, 1, 1) * cw[safe] * valid).sum() / valid.sum()
loss, g = grad_of(ce_weighted, logits)
show("kCeWeighted", loss)
show("kCeWeightedGrad", g)


# Keras' dice (axis=None) of the softmax probabilities against the one-hot mask, ignored pixels out.
def dice(p, y1h, m):
    y1h, p = y1h * m, p * m
    return 1 - 2 * (y1h * p).sum() / (y1h.sum() + p.sum() + 1e-7)
onehot = F.one_hot(safe, C).double()
m = valid.unsqueeze(-1).double()
loss, g = grad_of(lambda z: dice(torch.softmax(z, -1), onehot, m), logits)
show("kDice", loss)
show("kDiceGrad", g)
loss, g = grad_of(lambda z: ce(z) + dice(torch.softmax(z, -1), onehot, m), logits)
show("kCeDice", loss)
show("kCeDiceGrad", g)

# One sigmoid channel: binary crossentropy with logits, ignored pixels out of the mean.
z = (2.5 * torch.sin(0.9 * j.double() + 0.1)).view(N, H, W, 1)
b = ((5 * j + 1) % 2).view(N, H, W)
b[(j % 7 == 3).view(N, H, W)] = IGNORE
bvalid = b != IGNORE
bsafe = torch.where(bvalid, b, 0).double()
def bce(x):
    per = F.binary_cross_entropy_with_logits(x.squeeze(-1), bsafe, reduction="none")
    return (per * bvalid).sum() / bvalid.sum()
loss, g = grad_of(bce, z)
show("kBce", loss)
show("kBceGrad", g)
loss, g = grad_of(lambda x: dice(torch.sigmoid(x), bsafe.unsqueeze(-1), bvalid.unsqueeze(-1).double()), z)
show("kBinaryDice", loss)
show("kBinaryDiceGrad", g)

# Metrics, numpy: pixel accuracy, Keras' MeanIoU (with its epsilons), the Dice coefficient.
p = torch.softmax(logits, -1).numpy()
t, v = mask.numpy(), valid.numpy()
pred = p.argmax(-1)
acc = ((pred == t) & v).sum() / v.sum()
cm = np.zeros((C, C))
for a, q in zip(t[v], pred[v]):
    cm[a, q] += 1
tp = np.diag(cm)
den = cm.sum(0) + cm.sum(1) - tp
miou = (tp / (den + 1e-7)).sum() / ((den > 1e-9).sum() + 1e-7)
oh = onehot.numpy() * v[..., None]
pp = p * v[..., None]
dcoef = 2 * (oh * pp).sum() / (oh.sum() + pp.sum() + 1e-7)
show("kMetrics", torch.tensor([acc, miou, dcoef]))
show("kConfusion", torch.tensor(cm))
