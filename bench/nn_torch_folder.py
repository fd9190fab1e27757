#!/usr/bin/python3
"""The PyTorch peer of `imglist | imgprep | batchpack | nntrain` on a folder of
class folders of PNG (Fashion-MNIST as examples/fashion-mnist/export writes it):
torchvision ImageFolder + DataLoader(batch_size=128, shuffle=True, num_workers=2)
+ the lecture-shaped CNN for 28x28x1 (Conv2D(32,3x3,relu), MaxPool 2,
Conv2D(64,3x3,relu), MaxPool 2, Flatten, Dense(256,relu), Dense(10,softmax)),
sparse categorical crossentropy, Adam (lr 1e-3, eps 1e-7).

Trains --epochs epochs over TRAIN; with --test DIR also reports test accuracy.
Prints one JSON line: samples, seconds (training epochs only), samples_per_s,
test_accuracy. Usage: nn_torch_folder.py TRAIN [--test DIR] [--epochs N] [--malloc-fix]
"""
import argparse
import json
import time

from nn_torch_step import lecture_cnn, malloc_fix


def main():
    p = argparse.ArgumentParser()
    p.add_argument("train")
    p.add_argument("--test")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--malloc-fix", action="store_true")
    a = p.parse_args()
    if a.malloc_fix:
        malloc_fix()
    import torch
    import torchvision
    from torchvision import transforms
    torch.manual_seed(0)
    tf = transforms.Compose([transforms.Grayscale(1), transforms.ToTensor()])  # ToTensor does x/255
    train = torchvision.datasets.ImageFolder(a.train, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=a.workers)
    model = lecture_cnn(torch, 28, 28, 1, len(train.classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    samples = 0
    for _ in range(a.epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            samples += len(y)
    seconds = time.perf_counter() - start
    out = {"samples": samples, "seconds": round(seconds, 2), "samples_per_s": round(samples / seconds, 1),
           "loss": round(loss.item(), 4)}
    if a.test:
        test = torchvision.datasets.ImageFolder(a.test, transform=tf)
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in torch.utils.data.DataLoader(test, batch_size=512, num_workers=a.workers):
                correct += (model(x).argmax(1) == y).sum().item()
        out["test_accuracy"] = round(correct / len(test), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
