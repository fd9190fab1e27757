#!/usr/bin/python3
"""The PyTorch peer of examples/segmentation: the same U-Net (examples/segmentation/unet.json),
the same scenes (examples/segmentation/export), trained the same way: batches of 16, Adam
(lr 2e-3, eps 1e-7), cross-entropy with ignore_index=255, EPOCHS epochs, each pair flipped
left-right with probability 1/2 and rotated by a uniform angle in [-10, 10] degrees, drawn
once for image and mask (torchvision's functional API: bilinear for the image, nearest and
fill 255 for the mask; Debian 12's torchvision 0.14 has no v2 transforms, whose
tv_tensors.Mask does this same pairing). A DataLoader with workers, PIL decoding.

Prints one JSON line: seconds (training), samples_per_s, test mean_iou (Keras' MeanIoU over
the classes, the ignore index left out), test pixel accuracy.
Usage: segment_torch.py DATA [--epochs N] [--workers W] [--threads T] [--malloc-fix] [--seed S]
"""
import argparse
import json
import os
import random
import time

from nn_torch_step import malloc_fix


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--malloc-fix", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.malloc_fix:
        malloc_fix()
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision.transforms.functional as TF
    from PIL import Image
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, root, augment):
            self.root, self.augment = root, augment
            self.names = sorted(os.listdir(os.path.join(root, "images")))

        def __len__(self):
            return len(self.names)

        def __getitem__(self, i):
            img = Image.open(os.path.join(self.root, "images", self.names[i])).convert("RGB")
            mask = Image.open(os.path.join(self.root, "masks", self.names[i]))
            if self.augment:
                if random.random() < 0.5:
                    img, mask = TF.hflip(img), TF.hflip(mask)
                angle = random.uniform(-10, 10)
                img = TF.rotate(img, angle, interpolation=TF.InterpolationMode.BILINEAR, fill=0)
                mask = TF.rotate(mask, angle, interpolation=TF.InterpolationMode.NEAREST, fill=255)
            return TF.pil_to_tensor(img), torch.from_numpy(np.array(mask, np.int64))

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self, classes=4):
            super().__init__()
            self.enc1, self.enc2, self.bottom = block(3, 16), block(16, 32), block(32, 64)
            self.up2, self.dec2 = nn.ConvTranspose2d(64, 32, 2, stride=2), nn.Conv2d(64, 32, 3, padding=1)
            self.up1, self.dec1 = nn.ConvTranspose2d(32, 16, 2, stride=2), nn.Conv2d(32, 16, 3, padding=1)
            self.head = nn.Conv2d(16, classes, 1)

        def forward(self, x):
            x = x.float() / 255
            e1 = self.enc1(x)
            e2 = self.enc2(nn.functional.max_pool2d(e1, 2))
            b = self.bottom(nn.functional.max_pool2d(e2, 2))
            d2 = torch.relu(self.dec2(torch.cat([torch.relu(self.up2(b)), e2], 1)))
            d1 = torch.relu(self.dec1(torch.cat([torch.relu(self.up1(d2)), e1], 1)))
            return self.head(d1)  # logits; CrossEntropyLoss applies the softmax

    train = torch.utils.data.DataLoader(Pairs(os.path.join(a.data, "train"), True), batch_size=16, shuffle=True,
                                        num_workers=a.workers, persistent_workers=a.workers > 0)
    model = UNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss(ignore_index=255)
    start = time.perf_counter()
    samples = 0
    for _ in range(a.epochs):
        model.train()
        for x, y in train:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            samples += len(y)
    seconds = time.perf_counter() - start
    model.eval()
    confusion = torch.zeros(4, 4, dtype=torch.int64)
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(Pairs(os.path.join(a.data, "test"), False), batch_size=100):
            pred = model(x).argmax(1)
            keep = y != 255
            confusion += torch.bincount(y[keep] * 4 + pred[keep], minlength=16).reshape(4, 4)
    tp = confusion.diag().double()
    denom = confusion.sum(0).double() + confusion.sum(1).double() - tp
    iou = tp[denom > 0] / denom[denom > 0]
    print(json.dumps({"seconds": round(seconds, 2), "samples_per_s": round(samples / seconds, 1),
                      "mean_iou": round(iou.mean().item(), 4), "pixel_accuracy": round((tp.sum() / confusion.sum()).item(), 4),
                      "iou": [round(v, 4) for v in iou.tolist()], "loss": round(loss.item(), 4)}))


if __name__ == "__main__":
    main()
