"""The DARTS search network in PyTorch, written for rdarts' reference fixtures and side-by-side
benchmarks from the DARTS paper's description, with the parameter names of the DARTS reference
code (e.g. `cells.0._ops.3._ops.4.op.1.weight`). Search space S5 (the DARTS space) by default;
`primitives` selects another op list (the same for every edge).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

# S5, the DARTS space, in the reference code's order.
PRIMITIVES = ['none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect',
              'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5']
class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return (x if self.stride == 1 else x[:, :, ::self.stride, ::self.stride]) * 0.0


class ReLUConvBN(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=False))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=False)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def sep_conv(c, k, stride, pad):
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(c, c, k, stride, pad, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c, affine=False),
        nn.ReLU(), nn.Conv2d(c, c, k, 1, pad, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c, affine=False))


def dil_conv(c, k, stride, pad, dil):
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(c, c, k, stride, pad, dilation=dil, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=False))


class Wrap(nn.Module):
    """Gives a Sequential the attribute name `op`, as the reference's op classes have."""

    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, x):
        return self.op(x)


def make_op(name, c, stride):
    if name == 'none':
        return Zero(stride)
    if name == 'max_pool_3x3':
        return nn.Sequential(nn.MaxPool2d(3, stride, 1), nn.BatchNorm2d(c, affine=False))
    if name == 'avg_pool_3x3':
        return nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), nn.BatchNorm2d(c, affine=False))
    if name == 'skip_connect':
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    k = int(name[-1])
    if name.startswith('sep_conv'):
        return Wrap(sep_conv(c, k, stride, k // 2))
    return Wrap(dil_conv(c, k, stride, k - 1, 2))


class MixedOp(nn.Module):
    def __init__(self, c, stride, primitives=PRIMITIVES):
        super().__init__()
        self._ops = nn.ModuleList([make_op(p, c, stride) for p in primitives])

    def forward(self, x, w):
        return sum(wk * op(x) for wk, op in zip(w, self._ops))


class Cell(nn.Module):
    def __init__(self, nodes, c_pp, c_p, c, reduction, reduction_prev, primitives=PRIMITIVES):
        super().__init__()
        self.reduction, self.nodes = reduction, nodes
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c)
        self.preprocess1 = ReLUConvBN(c_p, c)
        self._ops = nn.ModuleList(
            [MixedOp(c, 2 if reduction and j < 2 else 1, primitives) for i in range(nodes) for j in range(2 + i)])

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for i in range(self.nodes):
            states.append(sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[-self.nodes:], dim=1)


class Network(nn.Module):
    def __init__(self, c, classes, layers, nodes, in_channels, primitives=PRIMITIVES):
        super().__init__()
        c_cur = 3 * c
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_cur, 3, padding=1, bias=False), nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(Cell(nodes, c_pp, c_p, c_cur, reduction, reduction_prev, primitives))
            reduction_prev = reduction
            c_pp, c_p = c_p, nodes * c_cur
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x, alphas_normal, alphas_reduce):
        s0 = s1 = self.stem(x)
        wn, wr = F.softmax(alphas_normal, dim=-1), F.softmax(alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


# S2 of RobustDARTS: skip_connect and sep_conv_3x3 on every edge.
S2 = ['skip_connect', 'sep_conv_3x3']
