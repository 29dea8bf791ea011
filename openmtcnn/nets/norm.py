"""Batch norm in the nets (variant part ``-bn``): folded into the convolutions for export, rebuilt on read-back.

A ``-bn`` net follows every convolution with BatchNorm2d before its PReLU (:class:`~openmtcnn.nets.builder.ConvBlock`).
In eval mode BN is a fixed affine map per channel, ``y = gamma (z - mean) / sqrt(var + eps) + beta``, so it folds into
the convolution before it (weights times ``gamma / sqrt(var + eps)``, bias ``beta - mean gamma / sqrt(var + eps)``):
:func:`fold_norm` gives the same variant without ``-bn``, which computes the same function. That is what the ONNX
file holds (:func:`openmtcnn.nets.export.export_net`), so a ``-bn`` set's graph, its load-time rewrites and its
speed are those of the variant without ``-bn``.

The fold cannot be undone: the statistics and BN's own scale and shift are gone. :func:`unfold_norm` rebuilds a
``-bn`` net from a folded one with BN layers that pass the folded activations through (scale 1, shift the folded
bias, statistics 0 / 1): the same function in eval mode. :func:`calibrate_norm` then sets each BN's statistics to
those of its input on a batch of training samples and its scale and shift so that it still passes that input
through (``gamma = sqrt(var + eps)``, ``beta`` = the folded bias + mean): in train mode, where BN normalises by the
batch's own statistics, the net then starts as about the folded net too (fine-tuning, ``train.init_weights``).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import torch
from torch import nn

from .builder import MTCNNNet


def _leaves(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if not list(m.children())]


def _norms_after_convs(net: MTCNNNet) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each BatchNorm2d of ``net`` with the convolution before it."""
    return [(a, b) for a, b in pairwise(_leaves(net)) if isinstance(b, nn.BatchNorm2d)]


def _copy_all_but_normed(src: MTCNNNet, dst: MTCNNNet) -> list[tuple[nn.Conv2d, nn.BatchNorm2d, nn.Conv2d]]:
    """Copy the layers of ``src`` into ``dst`` (the same variant, one with norm and one without) but for the
    convolutions followed by BN; returns those as ``(convolution of the -bn net, its BN, convolution of the other)``."""
    bn_net, plain_net = (src, dst) if src.spec.norm else (dst, src)
    bns = dict(_norms_after_convs(bn_net))
    layers = (m for m in _leaves(bn_net) if not isinstance(m, nn.BatchNorm2d))
    normed = []
    for a, b in zip(layers, _leaves(plain_net), strict=True):
        if type(a) is not type(b):  # the two nets differ in more than norm: a bug, not bad input
            raise TypeError(f"{type(a).__name__} of the -bn net against {type(b).__name__} of the net without norm")
        if a in bns:
            normed.append((a, bns[a], b))
        elif src is bn_net:
            b.load_state_dict(a.state_dict())
        else:
            a.load_state_dict(b.state_dict())
    return normed


def fold_norm(net: MTCNNNet) -> MTCNNNet:
    """The net without norm that computes what ``net`` computes in eval mode (a new net in eval mode; ``net`` is
    left as it is). A net without norm is returned unchanged."""
    if not net.spec.norm:
        return net
    plain = MTCNNNet(replace(net.spec, norm=False))
    with torch.no_grad():
        for conv, bn, target in _copy_all_but_normed(net, plain):
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            target.weight.copy_(conv.weight.double() * scale.reshape(-1, 1, 1, 1))
            target.bias.copy_(bn.bias.double() - bn.running_mean.double() * scale)
    return plain.eval()


def unfold_norm(plain: MTCNNNet) -> MTCNNNet:
    """The ``-bn`` form of a net without norm: its convolutions' weights, each BN passing their output through
    (scale 1, shift the convolution's bias, mean 0, variance ``1 - eps``): the same function in eval mode."""
    net = MTCNNNet(replace(plain.spec, norm=True))
    with torch.no_grad():
        for conv, bn, source in _copy_all_but_normed(plain, net):
            conv.weight.copy_(source.weight)
            bn.weight.fill_(1.0)
            bn.bias.copy_(source.bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return net.eval()


def calibrate_norm(net: MTCNNNet, x: torch.Tensor) -> MTCNNNet:
    """Set each BN of ``net`` to its input's statistics on the batch ``x`` (running mean and variance) and its scale
    and shift so that its eval-mode output does not change (``gamma`` = its old factor ``gamma0 / sqrt(var0 + eps)``
    times ``sqrt(var + eps)``, ``beta`` shifted to match). In train mode, which normalises by each batch's own
    statistics, BN then also passes batches like ``x`` about through. Returns ``net``, in the mode it had."""
    pairs = _norms_after_convs(net)
    stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(bn: nn.BatchNorm2d, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        z = inputs[0].double()
        stats[bn] = (z.mean((0, 2, 3)), z.var((0, 2, 3), unbiased=False))

    hooks = [bn.register_forward_hook(record) for _, bn in pairs]
    mode = net.training
    try:
        net.eval()  # every BN's input is that of the net as it is: eval-mode outputs do not change below
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
        net.train(mode)
    with torch.no_grad():
        for _, bn in pairs:
            mean, var = stats[bn]
            old = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)  # y = old (z - m0) + beta0
            new = torch.sqrt(var + bn.eps)  # y = (z - mean) / sqrt(var + eps) * gamma + beta, gamma / sqrt(..) = old
            beta = bn.bias.double() + old * (mean - bn.running_mean.double())
            bn.weight.copy_(old * new)
            bn.bias.copy_(beta)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
    return net
