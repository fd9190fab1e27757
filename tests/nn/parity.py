#!/usr/bin/python3
"""An independent reference for the nn engine, in PyTorch (Debian's python3-torch).

usage: parity.py DIR
DIR holds what tests/nn/test_parity.cpp wrote: before.model (a model file just
created), batch.bs (one batch), predict.bs (the engine's outputs on that batch
in inference mode, and the loss of its first training step) and after.model
(the model after STEPS training steps on the batch). This script reads the
files with json + numpy, re-implements the model from the resolved spec in
float64 (TensorFlow's "same" padding, Keras' Flatten order, Keras' losses and
optimizer updates, all written out here), and checks the outputs and every
updated weight within 1e-5. Exit 0 on agreement, 1 with the differences.
"""
import json, math, struct, sys
import numpy as np
import torch
import torch.nn.functional as F

TOL = 1e-5
DT = {"F32": np.float32, "U8": np.uint8, "I32": np.int32}


def read(path):
    data = open(path, "rb").read()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(data[base + a:base + b], DT[t["dtype"]]).reshape(t["shape"])
    return tensors, meta


def same_pad(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def activation(name, x):
    return {"linear": lambda v: v, "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "softmax": lambda v: torch.softmax(v, 1), "elu": F.elu,
            "leaky_relu": lambda v: F.leaky_relu(v, 0.2), "relu6": lambda v: torch.clamp(v, 0, 6),
            "swish": lambda v: v * torch.sigmoid(v), "gelu": lambda v: 0.5 * v * (1 + torch.erf(v / math.sqrt(2))),
            "hard_sigmoid": lambda v: torch.clamp(v / 6 + 0.5, 0, 1), "softplus": F.softplus,
            "keras2_hard_sigmoid": lambda v: torch.clamp(0.2 * v + 0.5, 0, 1),
            "selu": lambda v: 1.0507009873554804934193349852946 * torch.where(
                v > 0, v, 1.6732632423543772848170429916717 * (torch.exp(v) - 1))}[name](x)


def lam(expr, x):
    env = {"x": x, "abs": torch.abs, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "tanh": torch.tanh,
           "sigmoid": torch.sigmoid, "relu": torch.relu, "square": torch.square,
           "clip": lambda v, a, b: torch.clamp(v, a, b),
           "minimum": lambda a, b: torch.minimum(torch.as_tensor(a, dtype=x.dtype), torch.as_tensor(b, dtype=x.dtype)),
           "maximum": lambda a, b: torch.maximum(torch.as_tensor(a, dtype=x.dtype), torch.as_tensor(b, dtype=x.dtype))}
    return eval(expr.replace("lambda x:", ""), {"__builtins__": {}}, env)


def forward(spec, W, x, training, stats):
    """x: NHWC float64. W: name -> tensor. stats: BN running-stat updates (training).
    The resolved spec's entries are calls in graph order: a layer with "inputs"
    reads those (name or name[call]), one without reads the entry before it, and
    {"call": name, "inputs": [...]} calls a layer defined above again."""
    x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x
    outputs, defined, last = {"input_layer": [x]}, {}, x
    for E in spec["layers"]:
        if E.get("type") == "InputLayer":
            outputs[E["name"]] = [x]
            continue
        L = defined[E["call"]] if "call" in E else E
        defined[L["name"]] = L
        ins = [last] if "inputs" not in E else [outputs[r.split("[")[0]][int(r.split("[")[1].rstrip("]")) if "[" in r else 0]
                                               for r in E["inputs"]]
        last = layer(L, W, ins, training, stats)
        outputs.setdefault(L["name"], []).append(last)
    return last.permute(0, 2, 3, 1) if last.dim() == 4 else last


def conv(L, W, x, weight, groups):
    (kh, kw), (sh, sw) = L["kernel_size"], L["strides"]
    dh, dw = L.get("dilation_rate", [1, 1])
    if L["padding"] == "same":
        t0, b0 = same_pad(x.shape[2], (kh - 1) * dh + 1, sh)
        l0, r0 = same_pad(x.shape[3], (kw - 1) * dw + 1, sw)
        x = F.pad(x, (l0, r0, t0, b0))
    return F.conv2d(x, W[L["name"] + weight], None, (sh, sw), 0, (dh, dw), groups)


def bias(L, W, x):
    b = W.get(L["name"] + ".bias")
    return x if b is None else x + (b.view(1, -1, 1, 1) if x.dim() == 4 else b)


def merge(t, ins, axis):
    if t == "Add":
        return sum(ins[1:], ins[0])
    if t == "Subtract":
        return ins[0] - ins[1]
    if t == "Multiply":
        out = ins[0]
        for v in ins[1:]:
            out = out * v
        return out
    if t == "Average":
        return sum(ins[1:], ins[0]) / len(ins)
    if t in ("Maximum", "Minimum"):
        out = ins[0]
        for v in ins[1:]:
            out = torch.maximum(out, v) if t == "Maximum" else torch.minimum(out, v)
        return out
    # Concatenate: Keras' channels-last axis, the batch counted
    nhwc = [v.permute(0, 2, 3, 1) if v.dim() == 4 else v for v in ins]
    out = torch.cat(nhwc, axis if axis >= 0 else nhwc[0].dim() + axis)
    return out.permute(0, 3, 1, 2) if out.dim() == 4 else out


def tf_map(v, n, mode):
    """TensorFlow's ImageProjectiveTransform: a source coordinate outside [0, n-1]
    by fill mode (reflect: d c b a | a b c d, about the outer pixels' edges)."""
    if mode == "constant":
        return v
    if mode == "reflect" and n > 1:
        sz2 = 2.0 * n
        lo = torch.where(v < -sz2, sz2 * torch.trunc(-v / sz2) + v, v)
        lo = torch.where(lo < -n, lo + sz2, -lo - 1)
        hi = v - sz2 * torch.trunc(v / sz2)
        hi = torch.where(hi >= n, sz2 - hi - 1, hi)
        v = torch.where(v < 0, lo, torch.where(v > n - 1, hi, v))
    return torch.clamp(v, 0, n - 1)


def transform(L, x, a, t):
    """Output pixel p reads the input at a (p - c) + c - t (pixel centres at
    integers, c the centre), interpolated as TensorFlow does, with fill_value
    for neighbours outside the image. x: NCHW; a: ((a00, a01), (a10, a11)) on (x, y)."""
    n, ch, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    cx, cy = (w - 1) / 2, (h - 1) / 2
    sx = a[0][0] * (xs - cx) + a[0][1] * (ys - cy) + cx - t[0]
    sy = a[1][0] * (xs - cx) + a[1][1] * (ys - cy) + cy - t[1]
    sx, sy = tf_map(sx, w, L["fill_mode"]), tf_map(sy, h, L["fill_mode"])
    fill = L["fill_value"]

    def read(iy, ix):
        inside = (ix >= 0) & (ix <= w - 1) & (iy >= 0) & (iy <= h - 1)
        v = x[:, :, iy.clamp(0, h - 1).long(), ix.clamp(0, w - 1).long()]
        return torch.where(inside, v, torch.full_like(v, fill))

    if L["interpolation"] == "nearest":
        return read(torch.round(sy), torch.round(sx))
    y0, x0 = torch.floor(sy), torch.floor(sx)
    top = (x0 + 1 - sx) * read(y0, x0) + (sx - x0) * read(y0, x0 + 1)
    bottom = (x0 + 1 - sx) * read(y0 + 1, x0) + (sx - x0) * read(y0 + 1, x0 + 1)
    return (y0 + 1 - sy) * top + (sy - y0) * bottom


def fixed(L, key):
    lo, hi = L[key]
    if lo != hi:
        raise SystemExit("parity: %s draws at random; give it [v, v] in parity models" % L["type"])
    return lo


def preprocessing(L, x, training):
    """Keras 3's augmentation layers (the identity outside training), on fixed draws."""
    t = L["type"]
    if not training:
        return x
    if t == "RandomFlip":
        raise SystemExit("parity: RandomFlip draws at random; leave it out of parity models")
    h, w = x.shape[2], x.shape[3]
    if t == "RandomTranslation":
        return transform(L, x, ((1, 0), (0, 1)), (fixed(L, "width_factor") * w, fixed(L, "height_factor") * h))
    if t == "RandomRotation":
        angle = fixed(L, "factor") * 2 * math.pi
        return transform(L, x, ((math.cos(angle), -math.sin(angle)), (math.sin(angle), math.cos(angle))), (0, 0))
    zy = 1 + fixed(L, "height_factor")
    zx = zy if L["width_factor"] is None else 1 + fixed(L, "width_factor")
    return transform(L, x, ((zx, 0), (0, zy)), (0, 0))


def layer(L, W, ins, training, stats):
    """One call of layer L on inputs `ins` (images NCHW)."""
    x = ins[0]
    t, name = L["type"], L["name"]
    if t in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
        return merge(t, ins, L.get("axis", -1))
    if t == "Conv2D":
        return activation(L["activation"], bias(L, W, conv(L, W, x, ".weight", L.get("groups", 1))))
    if t == "DepthwiseConv2D":
        return activation(L["activation"], bias(L, W, conv(L, W, x, ".weight", x.shape[1])))
    if t == "SeparableConv2D":
        x = conv(L, W, x, ".depthwise_weight", x.shape[1])
        return activation(L["activation"], bias(L, W, F.conv2d(x, W[name + ".pointwise_weight"])))
    if t == "ZeroPadding2D":
        (top, bottom), (left, right) = L["padding"]
        return F.pad(x, (left, right, top, bottom))
    if t == "Cropping2D":
        (top, bottom), (left, right) = L["cropping"]
        return x[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right]
    if t == "GlobalMaxPooling2D":
        return x.amax((2, 3), keepdim=L.get("keepdims", False))
    if t == "ReLU":
        m, slope, th = L["max_value"], L["negative_slope"], L["threshold"]
        y = torch.where(x >= th, x, slope * (x - th))
        return y if m is None else torch.clamp(y, max=m)
    if t == "LeakyReLU":
        return F.leaky_relu(x, L["negative_slope"])
    if t == "Softmax":
        return torch.softmax(x, 1)
    if t in ("RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom"):
        return preprocessing(L, x, training)
    if t == "Normalization":
        shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
        mean = torch.tensor(L["mean"], dtype=x.dtype).view(shape)
        sd = torch.clamp(torch.sqrt(torch.tensor(L["variance"], dtype=x.dtype)), min=1e-7).view(shape)
        return mean + x * sd if L["invert"] else (x - mean) / sd
    if t == "PReLU":  # Keras' form: relu(x) - alpha * relu(-x)
        return F.relu(x) - W[name + ".alpha"] * F.relu(-x)
    if t == "SpatialDropout2D":
        if training and L["rate"] > 0:
            raise SystemExit("parity: SpatialDropout2D is random; leave it out of parity models")
        return x
    if L.get("trainable") is False and t == "BatchNormalization":
        training = False  # a frozen BatchNormalization runs in inference mode
    t, name = L["type"], L["name"]
    if t == "Lambda":
        x = lam(L["function"], x)
    elif t == "Rescaling":
        x = x * L["scale"] + L["offset"]
    elif t == "Conv2D":
        (kh, kw), (sh, sw) = L["kernel_size"], L["strides"]
        if L["padding"] == "same":
            t0, b0 = same_pad(x.shape[2], kh, sh)
            l0, r0 = same_pad(x.shape[3], kw, sw)
            x = F.pad(x, (l0, r0, t0, b0))
        x = F.conv2d(x, W[name + ".weight"], W.get(name + ".bias"), (sh, sw))
        x = activation(L["activation"], x)
    elif t == "Conv2DTranspose":
        (kh, kw), (sh, sw) = L["kernel_size"], L["strides"]
        h, w = x.shape[2], x.shape[3]
        x = F.conv_transpose2d(x, W[name + ".weight"], None, (sh, sw))
        for dim, n, k, s in ((2, h, kh, sh), (3, w, kw, sw)):
            want = n * s if L["padding"] == "same" else n * s + max(k - s, 0)
            top = max(k - s, 0) // 2 if L["padding"] == "same" else 0
            if x.shape[dim] < top + want:
                pad = [0, 0, 0, 0]
                pad[3 if dim == 2 else 1] = top + want - x.shape[dim]
                x = F.pad(x, pad)
            x = x.narrow(dim, top, want)
        if name + ".bias" in W:
            x = x + W[name + ".bias"].view(1, -1, 1, 1)
        x = activation(L["activation"], x)
    elif t in ("MaxPooling2D", "AveragePooling2D"):
        (kh, kw), (sh, sw) = L["pool_size"], L["strides"]
        if L["padding"] == "same":
            t0, b0 = same_pad(x.shape[2], kh, sh)
            l0, r0 = same_pad(x.shape[3], kw, sw)
        else:
            t0 = b0 = l0 = r0 = 0
        if t == "MaxPooling2D":
            x = F.max_pool2d(F.pad(x, (l0, r0, t0, b0), value=-math.inf), (kh, kw), (sh, sw))
        else:  # the mean of the window's pixels inside the image
            s = F.avg_pool2d(F.pad(x, (l0, r0, t0, b0)), (kh, kw), (sh, sw)) * kh * kw
            ones = torch.ones(1, 1, x.shape[2], x.shape[3], dtype=x.dtype)
            c = F.avg_pool2d(F.pad(ones, (l0, r0, t0, b0)), (kh, kw), (sh, sw)) * kh * kw
            x = s / c
    elif t == "GlobalAveragePooling2D":
        x = x.mean((2, 3))
    elif t == "UpSampling2D":
        a, b = L["size"]
        x = x.repeat_interleave(a, 2).repeat_interleave(b, 3)
    elif t == "Flatten":
        x = (x.permute(0, 2, 3, 1) if x.dim() == 4 else x).reshape(x.shape[0], -1)
    elif t == "Reshape":
        x = (x.permute(0, 2, 3, 1) if x.dim() == 4 else x).reshape([x.shape[0]] + L["target_shape"])
        x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x
    elif t == "Dense":
        x = x @ W[name + ".weight"].T + (W[name + ".bias"] if name + ".bias" in W else 0)
        x = activation(L["activation"], x)
    elif t == "Activation":
        x = activation(L["activation"], x)
    elif t == "BatchNormalization":
        axes = (0, 2, 3) if x.dim() == 4 else (0,)
        shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
        if training:
            mean = x.mean(axes)
            var = ((x - mean.view(shape)) ** 2).mean(axes)
            count = x.numel() // x.shape[1]
            m = 1 - L["momentum"]
            stats[name + ".running_mean"] = (1 - m) * W[name + ".running_mean"] + m * mean.detach()
            stats[name + ".running_var"] = (1 - m) * W[name + ".running_var"] + m * var.detach() * count / (count - 1)
        else:
            mean, var = W[name + ".running_mean"], W[name + ".running_var"]
        x = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + L["epsilon"])
        if name + ".weight" in W:
            x = x * W[name + ".weight"].view(shape)
        if name + ".bias" in W:
            x = x + W[name + ".bias"].view(shape)
    elif t == "Dropout":
        if training and L["rate"] > 0:
            raise SystemExit("parity: Dropout is random; leave it out of parity models")
    else:
        raise SystemExit("parity: unknown layer " + t)
    return x


# The resolved spec's loss options: {"type": ..., "label_smoothing": s, "from_logits": true, "delta": d}.
LOSS = {"label_smoothing": 0.0, "from_logits": False, "delta": 1.0}


def targets(name, y, out_shape):
    """The stream's y as float rows (class indices one-hot, or a column for one output)."""
    if y.dtype == torch.int64:
        return y.double().view(-1, 1) if out_shape == [1] else F.one_hot(y, out_shape[0]).double()
    return y.view(-1, 1) if y.dim() == 1 else y


def per_sample(name, p, y, out_shape):
    """Each sample's loss, as Keras' loss functions return it (the mean over the last axis)."""
    s = LOSS["label_smoothing"]
    if LOSS["from_logits"]:  # the output is logits: Keras applies the activation inside the loss
        p = torch.sigmoid(p) if name == "binary_crossentropy" else torch.softmax(p, 1)
    if y.dtype == torch.int64 and name == "sparse_categorical_crossentropy":
        return -torch.log(p.gather(1, y.view(-1, 1))).view(-1)
    y = targets(name, y, out_shape)
    if name == "binary_crossentropy":  # keras/src/losses/losses.py: towards 0.5
        y = y * (1 - s) + 0.5 * s
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean(-1)
    if name == "categorical_crossentropy":  # towards 1/num_classes
        y = y * (1 - s) + s / y.shape[1]
        return -(y * torch.log(p)).sum(1)
    if name == "mse":
        return ((p - y) ** 2).mean(-1)
    if name == "mae":
        return (p - y).abs().mean(-1)
    if name == "huber":  # quadratic within delta, linear beyond
        d, e = LOSS["delta"], (p - y).abs()
        return torch.where(e <= d, 0.5 * e**2, d * e - 0.5 * d * d).mean(-1)
    if name == "log_cosh":  # the definition itself, in float64 (Keras rewrites it with softplus)
        return torch.log(torch.cosh(p - y)).mean(-1)
    raise SystemExit("parity: unknown loss " + name)


def loss_of(name, p, y, out_shape, w=None):
    """Keras' sum_over_batch_size: the weighted sum over the number of values."""
    v = per_sample(name, p, y, out_shape)
    if w is None:
        return v.mean()
    return (v * w.view([-1] + [1] * (v.dim() - 1))).sum() / v.numel()


def metrics_of(names, p, y, out_shape, threshold):
    """Keras 3's metrics on one batch, from their definitions (float64)."""
    t = targets(None, y, out_shape)
    out = {}
    for m in names:
        if m == "mse":
            out[m] = ((p - t) ** 2).mean()
        elif m == "mae":
            out[m] = (p - t).abs().mean()
        elif m == "root_mean_squared_error":
            out[m] = ((p - t) ** 2).mean().sqrt()
        elif m == "r2_score":  # per output 1 - SSres / SStot, averaged
            r2 = 1 - ((t - p) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0)
            out[m] = r2.mean()
        elif m in ("binary_accuracy", "accuracy"):
            out[m] = ((p > threshold).double() == t).double().mean()
        elif m in ("precision", "recall"):
            yes, truth = p > threshold, t > 0.5
            tp = (yes & truth).sum().double()
            out[m] = tp / (yes.sum() if m == "precision" else truth.sum())
        elif m == "f1_score":  # macro: each class's F1, with Keras' epsilons, averaged
            yes, truth, e = p > threshold, t > 0.5, 1e-7
            tp = (yes & truth).sum(0).double()
            pr, rc = tp / (yes.sum(0) + e), tp / (truth.sum(0) + e)
            out[m] = (2 * pr * rc / (pr + rc + e)).mean()
        elif m == "auc":  # ROC over Keras' 200 thresholds, trapezoids between them
            th = torch.tensor([-1e-7] + [i / 199 for i in range(1, 199)] + [1 + 1e-7], dtype=torch.float64)
            q, truth = p.float().double().reshape(-1, 1), (t > 0.5).reshape(-1, 1)
            above = q > th.view(1, -1)
            tpr = (above & truth).sum(0).double() / truth.sum()
            fpr = (above & ~truth).sum(0).double() / (~truth).sum()
            out[m] = ((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum()
        else:
            raise SystemExit("parity: no reference for metric " + m)
    return out


def sample_weights(batch, y, class_weights):
    """The stream's w times each sample's class weight (Keras: the class index, a one-hot row's argmax)."""
    w = torch.from_numpy(batch["w"].astype(np.float64)) if "w" in batch else None
    if class_weights:
        label = y if y.dtype == torch.int64 else y.argmax(1)
        cw = torch.tensor(class_weights, dtype=torch.float64)[label]
        w = cw if w is None else w * cw
    return w


def schedule_lr(lr, step):
    """A learning rate, or Keras' schedule (keras.optimizers.schedules) at optimizer iteration `step`."""
    if not isinstance(lr, dict):
        return lr
    kind, c = lr["class_name"], lr["config"]
    if kind in ("ExponentialDecay", "InverseTimeDecay"):
        p = step / c["decay_steps"]
        if c["staircase"]:
            p = math.floor(p)
        if kind == "ExponentialDecay":
            return c["initial_learning_rate"] * c["decay_rate"] ** p
        return c["initial_learning_rate"] / (1 + c["decay_rate"] * p)
    if kind == "PolynomialDecay":
        ds = c["decay_steps"]
        if c["cycle"]:
            ds = ds * (1 if step == 0 else math.ceil(step / ds))
        else:
            step = min(step, ds)
        return (c["initial_learning_rate"] - c["end_learning_rate"]) * (1 - step / ds) ** c["power"] + c["end_learning_rate"]
    if kind == "CosineDecay":
        lr0, ds, alpha = c["initial_learning_rate"], c["decay_steps"], c["alpha"]
        target, ws = c.get("warmup_target"), c.get("warmup_steps", 0)

        def decay(s, start):
            return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / ds)) + alpha)
        if target is None:
            return decay(min(step, ds), lr0)
        s = min(step, ds + ws)
        return (target - lr0) * s / ws + lr0 if s < ws else decay(s - ws, target)
    if kind == "PiecewiseConstantDecay":
        for b, v in zip(c["boundaries"], c["values"]):
            if step <= b:
                return v
        return c["values"][-1]
    raise SystemExit("parity: unknown schedule " + kind)


def optimizer_step(opt, W, trainable, slots, step, nadam):
    """Step `step` (from 1) of Keras 3's optimizer (keras/src/optimizers/*.py), in float64."""
    lr = schedule_lr(opt["learning_rate"], step - 1)  # the rate at the iteration count before the step
    wd = opt.get("weight_decay") or 0
    kind = opt["type"]
    if kind == "nadam":
        b1 = opt["beta_1"]
        u_t = b1 * (1 - 0.5 * 0.96 ** step)
        u_next = b1 * (1 - 0.5 * 0.96 ** (step + 1))
        nadam["u_product"] *= u_t
    for k in trainable:
        g, s = W[k].grad, slots[k]
        w = W[k].detach()
        if wd:  # base_optimizer._apply_weight_decay, before the update
            w = w - w * wd * lr
        if kind in ("adam", "adamw", "nadam"):
            b1, b2, eps = opt["beta_1"], opt["beta_2"], opt["epsilon"]
            s["m"] = s["m"] + (g - s["m"]) * (1 - b1)
            s["v"] = s["v"] + (g * g - s["v"]) * (1 - b2)
            if kind == "nadam":
                prod = nadam["u_product"]
                m_hat = u_next * s["m"] / (1 - prod * u_next) + (1 - u_t) * g / (1 - prod)
                v_hat = s["v"] / (1 - b2 ** step)
                w = w - m_hat * lr / (torch.sqrt(v_hat) + eps)
            else:
                alpha = lr * math.sqrt(1 - b2 ** step) / (1 - b1 ** step)
                w = w - s["m"] * alpha / (torch.sqrt(s["v"]) + eps)
        elif kind == "sgd":
            if opt["momentum"] > 0:
                s["m"] = opt["momentum"] * s["m"] - lr * g
                w = w + (opt["momentum"] * s["m"] - lr * g if opt["nesterov"] else s["m"])
            else:
                w = w - lr * g
        else:  # rmsprop
            s["v"] = opt["rho"] * s["v"] + (1 - opt["rho"]) * g * g
            increment = lr * g / torch.sqrt(s["v"] + opt["epsilon"])
            if opt["momentum"] > 0:
                s["m"] = opt["momentum"] * s["m"] + increment
                increment = s["m"]
            w = w - increment
        W[k] = w


def regularizer(r):
    """(l1, l2) of a kernel or bias regularizer as a spec writes it."""
    if not r:
        return 0.0, 0.0
    if isinstance(r, str):  # Keras' names, with their default factors
        return {"l1": (0.01, 0.0), "l2": (0.0, 0.01), "l1_l2": (0.01, 0.01)}[r.lower()]
    c = r.get("config", r)
    return float(c.get("l1") or 0), float(c.get("l2") or 0)


def regularization(spec, W):
    """Keras' model.losses of the weight regularizers: l1 * sum|w| + l2 * sum(w^2), summed."""
    total = torch.zeros((), dtype=torch.float64)
    for L in (E for E in spec["layers"] if "call" not in E):  # a layer called again counts once
        for key, weight in (("kernel_regularizer", ".weight"), ("bias_regularizer", ".bias"), ("alpha_regularizer", ".alpha")):
            l1, l2 = regularizer(L.get(key))
            name = L["name"] + weight
            if (l1 or l2) and name in W:
                total = total + l1 * W[name].abs().sum() + l2 * (W[name] ** 2).sum()
    return total


def main():
    d = sys.argv[1]
    before, meta = read(d + "/before.model")
    after, _ = read(d + "/after.model")
    batch, _ = read(d + "/batch.bs")
    pred, pmeta = read(d + "/predict.bs")
    spec = json.loads(meta["spec"])
    steps = int(pmeta["steps"])
    opt = spec["optimizer"]
    if isinstance(spec.get("loss"), dict):
        LOSS.update({k: spec["loss"][k] for k in ("label_smoothing", "from_logits", "delta") if k in spec["loss"]})
    lr = opt["learning_rate"]
    x = torch.from_numpy(batch["x"].astype(np.float64))
    y = torch.from_numpy(batch["y"].astype(np.int64 if batch["y"].dtype == np.int32 else np.float64))
    if batch["y"].dtype == np.uint8:
        y = y / 255.0
    W = {k: torch.from_numpy(v.astype(np.float64)) for k, v in before.items() if not k.startswith("optimizer.")}
    frozen = {L["name"] for L in spec["layers"] if L.get("trainable") is False}
    trainable = [k for k in W if not k.endswith(("running_mean", "running_var")) and k.split(".")[0] not in frozen]
    failures = []
    class_weights = json.loads(pmeta.get("class_weights", "[]"))
    w = sample_weights(batch, y, class_weights)
    ours_metrics = json.loads(pmeta.get("metrics", "{}"))
    out_shape_of = lambda p: spec["layers"][-1].get("units") and [spec["layers"][-1]["units"]] or list(p.shape[1:])

    def compare(what, ours, ref):
        diff = float(np.max(np.abs(np.asarray(ours, np.float64) - ref.detach().numpy()))) if ref.numel() else 0.0
        print("%-40s max |diff| %.2e" % (what, diff))
        if not diff <= TOL:
            failures.append(what)

    with torch.no_grad():
        compare("predict", pred["y"], forward(spec, W, x, False, {}))
    slots = {k: {"m": torch.zeros_like(W[k]), "v": torch.zeros_like(W[k])} for k in trainable}
    nadam = {"u_product": 1.0}
    for step in range(1, steps + 1):
        for k in trainable:
            W[k].requires_grad_(True)
            W[k].grad = None
        stats = {}
        p = forward(spec, W, x, True, stats)
        loss = loss_of(meta["loss"], p, y, out_shape_of(p), w)
        loss = loss + regularization(spec, W)  # Keras adds model.losses, and reports the sum
        if step == 1:
            compare("loss of step 1", np.array([float(pmeta["loss"])]), loss.detach().view(1))
            ref = metrics_of(list(ours_metrics), p.detach(), y, out_shape_of(p), float(pmeta.get("threshold", 0.5)))
            for m, v in ours_metrics.items():
                compare("metric of step 1: " + m, np.array([v]), ref[m].view(1))
        loss.backward()
        with torch.no_grad():
            optimizer_step(opt, W, trainable, slots, step, nadam)
            W.update(stats)
    for k in W:
        compare("after %d steps: %s" % (steps, k), after[k], W[k])
    if failures:
        print("parity: %d differ by more than %g: %s" % (len(failures), TOL, ", ".join(failures)))
        sys.exit(1)


if __name__ == "__main__":
    main()
