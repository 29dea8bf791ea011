"""Rewrites of a net's ONNX graph into a faster, equivalent form (up to float rounding, about 1e-6).

ONNX Runtime runs the exported nets slower than it could: its ``PRelu`` kernel is slow and leaves the
blocked (NCHWc) convolution layout, a face softmax over two channels costs a pass of its own, and
P-Net's heads read the same input twice. :func:`optimize_graph` applies each rewrite below in turn;
:class:`Graph` is the editable view they share (constants by name, producers and consumers).
Needs the ``onnx`` package; numpy otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def constants(graph: Any) -> dict[str, Any]:
    """Initializers by name, plus the outputs of ``Identity`` nodes over them (the exporter
    shares equal tensors, e.g. untrained PReLU slopes, through such nodes)."""
    consts = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    return consts


#: channel multiple that keeps ONNX Runtime's convolutions in its blocked (NCHWc) layout: its
#: kernels pad outputs to multiples of 16 on this project's AVX2 machine (40 channels ran as 48)
CHANNEL_BLOCK = 16


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class Graph:
    """A net's ONNX graph being rewritten: constants by name, producers and consumers of each tensor."""

    def __init__(self, model: Any):
        self.model, self.g = model, model.graph
        self.consts = constants(self.g)
        self.nodes = list(self.g.node)
        for node in self.nodes:  # values of Constant nodes (the exporter's gather indices)
            value = _attrs(node).get("value") if node.op_type == "Constant" else None
            if value is not None:
                self.consts[node.output[0]] = value

    @property
    def opset(self) -> int:
        """The default-domain opset the model declares (13 when it declares none)."""
        return max((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), default=13)

    def array(self, name: str) -> np.ndarray:
        from onnx import numpy_helper

        return numpy_helper.to_array(self.consts[name])

    def add(self, name: str, value: np.ndarray) -> str:
        """A new initializer (float32 unless integer) named ``name`` (suffixed if taken); returns its name."""
        from onnx import numpy_helper

        base, k = name, 1
        while name in self.consts:
            name, k = f"{base}_{k}", k + 1
        value = np.asarray(value)
        t = numpy_helper.from_array(value if value.dtype.kind in "iu" else value.astype(np.float32), name)
        self.g.initializer.append(t)
        self.consts[name] = t
        return name

    def consumers(self, tensor: str) -> list[Any]:
        return [n for n in self.nodes if tensor in n.input]

    def producer(self, tensor: str) -> Any:
        return next((n for n in self.nodes if tensor in n.output), None)

    def prune(self, outputs: "tuple[str, ...] | None" = None) -> None:
        """Keep only the graph outputs ``outputs`` (all when ``None``) and the nodes they need."""
        g = self.g
        if outputs is not None:
            kept = [o for o in g.output if o.name in outputs]
            del g.output[:]
            g.output.extend(kept)
        needed, live = {o.name for o in g.output}, []
        for node in reversed(self.nodes):
            if any(o in needed for o in node.output):
                live.append(node)
                needed.update(node.input)
        self.nodes = live[::-1]

    def finish(self) -> Any:
        """Write the nodes back, without dead nodes and unused initializers."""
        self.prune()
        g = self.g
        del g.node[:]
        g.node.extend(self.nodes)
        used = {i for n in g.node for i in n.input}
        inits = [i for i in g.initializer if i.name in used]
        del g.initializer[:]
        g.initializer.extend(inits)
        return self.model


def _fold_face_softmax(gr: Graph) -> None:
    """``Gather(Softmax(head(x)), 1)`` -> ``Squeeze(Sigmoid(head'(x)))``, ``head'`` giving ``logit_1 - logit_0``.

    The face probability of a two-way softmax is the sigmoid of the logits' difference; folding the
    difference into the head's weights leaves one output channel instead of two and no softmax over
    the channel axis (on P-Net's maps that took 8 % of the net's time).
    """
    from onnx import helper

    for gather in [n for n in gr.nodes if n.op_type == "Gather" and n.input[1] in gr.consts]:
        softmax = gr.producer(gather.input[0])
        head = softmax is not None and gr.producer(softmax.input[0])
        if (
            not head
            or softmax.op_type != "Softmax"
            or _attrs(softmax).get("axis") != 1
            or _attrs(gather).get("axis", 0) != 1
            or gr.array(gather.input[1]).reshape(-1).tolist() != [1]
            or gr.array(gather.input[1]).ndim != 0
            or head.op_type not in ("Conv", "Gemm")
            or len(head.input) < 3
            or head.input[1] not in gr.consts
            or head.input[2] not in gr.consts
            or len(gr.consumers(softmax.output[0])) != 1
            or len(gr.consumers(head.output[0])) != 1
        ):
            continue
        w, b = gr.array(head.input[1]), gr.array(head.input[2])
        a = _attrs(head)
        if b.shape != (2,) or head.op_type == "Gemm" and (a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0):
            continue  # not a plain two-logit head
        if head.op_type == "Gemm" and not a.get("transB", 0):
            wd = (w[:, 1] - w[:, 0])[:, None]  # weights (inputs, outputs)
        else:
            wd = (w[1] - w[0])[None]  # weights (outputs, ...)
        head.input[1] = gr.add(f"{head.output[0]}/face_w", wd)
        head.input[2] = gr.add(f"{head.output[0]}/face_b", b[1:] - b[:1])
        softmax.op_type = "Sigmoid"
        del softmax.attribute[:]
        gather.op_type = "Squeeze"
        del gather.attribute[:]
        if gr.opset >= 13:
            gather.input[1] = gr.add(f"{gather.output[0]}/axes", np.array([1], np.int64))
        else:
            del gather.input[1]
            gather.attribute.append(helper.make_attribute("axes", [1]))


def _pad_channels(gr: Graph, block: int = CHANNEL_BLOCK) -> None:
    """Give convolutions a multiple of ``block`` output channels (zero filters, zero slopes, zero weights downstream).

    ONNX Runtime keeps a convolution's output in its blocked layout only when the channels fill whole
    blocks: P-Net's 10 and R-Net's 28 channels sent the PReLU and max-pool after the first convolution
    back to plain NCHW, with a layout conversion each way. A padded channel is 0 all along (its filter
    and bias are 0, PReLU and max-pool keep 0) and the next convolution's weights for it are 0. Only
    chains ``Conv -> (PRelu | Relu | MaxPool | DepthwiseConv)* -> Conv`` (both ends ungrouped) are padded;
    a depthwise convolution on the way (``group`` = its input and output channels: the depthwise-separable
    variants) gets zero filters and bias for the new channels, so they stay 0 through it.
    """
    for conv in list(gr.nodes):
        if conv.op_type != "Conv" or _attrs(conv).get("group", 1) != 1 or conv.input[1] not in gr.consts:
            continue
        w = gr.array(conv.input[1])
        pad = -w.shape[0] % block
        if pad == 0:
            continue
        route = _chain_to_conv(gr, conv.output[0], w.shape[0])
        if route is None:
            continue
        name = conv.output[0]
        conv.input[1] = gr.add(f"{name}/padded_w", np.concatenate([w, np.zeros((pad, *w.shape[1:]), w.dtype)]))
        if len(conv.input) > 2 and conv.input[2]:
            b = gr.array(conv.input[2])
            conv.input[2] = gr.add(f"{name}/padded_b", np.concatenate([b, np.zeros(pad, b.dtype)]))
        _widen(gr, *route, pad)


def _chain_to_conv(gr: Graph, tensor: str, channels: int) -> "tuple[list[Any], Any] | None":
    """The nodes that carry ``tensor`` (``channels`` channels, one consumer each) through PReLUs, ReLUs,
    max-pools and depthwise convolutions to the next ungrouped convolution: ``(chain, conv)``, or ``None``
    where the path ends otherwise (a graph output, a fork, another op)."""
    chain, t = [], tensor
    outputs = {o.name for o in gr.g.output}
    while True:
        users = gr.consumers(t)
        if len(users) != 1 or t in outputs:
            return None
        node = users[0]
        if node.op_type in ("PRelu", "Relu", "MaxPool") and node.input[0] == t or _depthwise(gr, node, t, channels):
            if node.op_type == "PRelu" and (node.input[1] not in gr.consts or gr.array(node.input[1]).size != channels):
                return None
            chain.append(node)
            t = node.output[0]
            continue
        if node.op_type == "Conv" and node.input[0] == t and _attrs(node).get("group", 1) == 1 and node.input[1] in gr.consts:
            return chain, node
        return None


def _widen(gr: Graph, chain: list[Any], conv: Any, pad: int) -> None:
    """``pad`` more channels along a :func:`_chain_to_conv` route: zero slopes for its PReLUs, zero filters and
    bias for its depthwise convolutions (so their new channels are 0 whatever comes in), zero input weights in
    ``conv`` (so nothing in the new channels reaches past it)."""
    from onnx import helper

    for node in chain:
        if node.op_type == "PRelu":
            a = gr.array(node.input[1])
            node.input[1] = gr.add(f"{node.output[0]}/padded_slope", np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)]))
        elif node.op_type == "Conv":  # depthwise
            dw = gr.array(node.input[1])
            node.input[1] = gr.add(f"{node.output[0]}/padded_w", np.concatenate([dw, np.zeros((pad, *dw.shape[1:]), dw.dtype)]))
            if len(node.input) > 2 and node.input[2]:
                b = gr.array(node.input[2])
                node.input[2] = gr.add(f"{node.output[0]}/padded_b", np.concatenate([b, np.zeros(pad, b.dtype)]))
            attrs = [x for x in node.attribute if x.name != "group"]
            del node.attribute[:]
            node.attribute.extend(attrs + [helper.make_attribute("group", dw.shape[0] + pad)])
    w = gr.array(conv.input[1])
    conv.input[1] = gr.add(f"{conv.output[0]}/padded_w", np.concatenate([w, np.zeros((w.shape[0], pad, *w.shape[2:]), w.dtype)], axis=1))


def _depthwise(gr: Graph, node: Any, tensor: str, channels: int) -> bool:
    """Whether ``node`` is a depthwise convolution of ``tensor`` with ``channels`` channels (weights constant)."""
    if node.op_type != "Conv" or node.input[0] != tensor or node.input[1] not in gr.consts:
        return False
    dims = list(gr.consts[node.input[1]].dims)
    return _attrs(node).get("group", 1) == channels and dims[:2] == [channels, 1]


def _pool_before_prelu(gr: Graph, block: int = CHANNEL_BLOCK) -> None:
    """``Conv -> PRelu -> MaxPool -> Conv`` with the PReLU moved after the pool, where it sees a quarter of the pixels.

    A PReLU with slope ``a >= 0`` is non-decreasing, so it commutes with a max: ``pool(prelu(x)) =
    prelu(pool(x))`` exactly. One with ``a < 0`` maps ``x`` to ``max(x, a x)``, whose pool is
    ``max(pool(x), |a| pool(-x))``: the first convolution also computes ``-x`` for those channels
    (its filters negated, in channels that padding to whole blocks adds anyway; where they would
    need extra blocks, as in O-Net, the layer is left to :func:`_split_prelus`),
    and after the pool ``y = p + relu(M p)`` with a 1 x 1 convolution ``M`` combines, per channel,
    ``-p`` (slopes >= 0, scaled by ``1 - a`` afterwards as in :func:`_split_prelus`) or
    ``|a| q - p`` (slopes < 0; ``q = pool(-x)``). The extra channels get zero weights in the next
    convolution, or, where a depthwise convolution comes first (the ``-dw`` variants), zero filters there
    and zero weights in the convolution after it (:func:`_widen`). Measured per call: P-Net on a strip of
    58 x 384 pixels 1.41 -> 1.1 ms (1 thread).
    """
    from onnx import helper

    for prelu in [n for n in gr.nodes if n.op_type == "PRelu"]:
        conv = gr.producer(prelu.input[0])
        users = gr.consumers(prelu.output[0])
        pool = users[0] if len(users) == 1 else None
        outputs = {o.name for o in gr.g.output}
        if (
            conv is None
            or pool is None
            or pool.op_type != "MaxPool"
            or conv.op_type != "Conv"
            or _attrs(conv).get("group", 1) != 1
            or conv.input[1] not in gr.consts
            or prelu.input[1] not in gr.consts
            or len(gr.consumers(conv.output[0])) != 1
            or outputs & {conv.output[0], prelu.output[0], pool.output[0]}
        ):
            continue
        w = gr.array(conv.input[1])
        c = w.shape[0]
        route = _chain_to_conv(gr, pool.output[0], c)  # to the next convolution (through a depthwise one)
        if route is None:
            continue
        a = gr.array(prelu.input[1]).reshape(-1).astype(np.float32)
        if a.size != c:
            continue
        b = gr.array(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(c, np.float32)
        neg = np.flatnonzero(a < 0)
        total = c + len(neg) + (-(c + len(neg)) % block)
        if total > c + (-c % block):
            continue  # the negated channels would cost whole extra blocks in both convolutions
        w_new = np.zeros((total, *w.shape[1:]), np.float32)
        b_new = np.zeros(total, np.float32)
        w_new[:c], b_new[:c] = w, b
        w_new[c : c + len(neg)], b_new[c : c + len(neg)] = -w[neg], -b[neg]
        name = conv.output[0]
        conv.input[1] = gr.add(f"{name}/pool_first_w", w_new)
        if len(conv.input) > 2:
            conv.input[2] = gr.add(f"{name}/pool_first_b", b_new)
        else:
            conv.input.append(gr.add(f"{name}/pool_first_b", b_new))
        x, y = pool.output[0], prelu.output[0]  # pool now reads the conv output; the PReLU's place is after it
        pool.input[0] = conv.output[0]
        pool.output[0] = f"{y}/pooled"
        pooled = pool.output[0]
        scale = np.zeros(total, np.float32)
        scale[:c] = np.where(a < 0, 1.0, 1.0 - a)
        if len(neg):
            m = np.zeros((total, total, 1, 1), np.float32)
            m[np.arange(c), np.arange(c), 0, 0] = -1.0
            m[neg, c + np.arange(len(neg)), 0, 0] = -a[neg]
            mix = helper.make_node("Conv", [pooled, gr.add(f"{y}/mix", m), gr.add(f"{y}/mix_b", np.zeros(total, np.float32))], [f"{y}/mixed"])
        else:
            mix = helper.make_node(
                "Conv", [pooled, gr.add(f"{y}/neg_one", np.full((total, 1, 1, 1), -1.0, np.float32)), gr.add(f"{y}/zero_bias", np.zeros(total, np.float32))],
                [f"{y}/mixed"], group=total, kernel_shape=[1, 1],
            )
        combine = [
            mix,
            helper.make_node("Relu", [f"{y}/mixed"], [f"{y}/rectified"]),
            helper.make_node(
                "Conv", [f"{y}/rectified", gr.add(f"{y}/scale", scale.reshape(total, 1, 1, 1)), gr.add(f"{y}/scale_b", np.zeros(total, np.float32))],
                [f"{y}/scaled"], group=total, kernel_shape=[1, 1],
            ),
            helper.make_node("Add", [f"{y}/scaled", pooled], [x]),
        ]
        _widen(gr, *route, total - c)  # the extra channels end at the next convolution (zero weights)
        i = gr.nodes.index(prelu)
        del gr.nodes[i]
        j = gr.nodes.index(pool)
        gr.nodes[j + 1 : j + 1] = combine


def _split_prelus(gr: Graph) -> None:
    """Per-channel ``PRelu(x, a)`` on 4-D tensors -> ``x + DepthwiseConv1x1(Relu(DepthwiseConv1x1(x, -1)), 1 - a)``.

    ONNX Runtime's ``PRelu`` kernel is slow (a few ns per element) and is not part of its blocked
    layout, so each PReLU after a convolution also cost a layout round trip: in R-Net it took more time
    than all convolutions together. ``x + (1 - a) * relu(-x)`` is ``x`` where ``x > 0`` (exactly) and
    ``a * x`` elsewhere (to float rounding), for slopes of any sign; ONNX Runtime fuses the negation with
    the ReLU and the addition with the second convolution, both in the blocked layout.
    """
    from onnx import helper

    out = []
    for node in gr.nodes:
        slope = gr.consts.get(node.input[1]) if node.op_type == "PRelu" and len(node.input) == 2 else None
        if slope is None or len(slope.dims) != 3 or list(slope.dims[1:]) != [1, 1]:
            out.append(node)
            continue
        x, y = node.input[0], node.output[0]
        a = gr.array(node.input[1]).reshape(-1).astype(np.float32)
        c = len(a)
        zeros = gr.add(f"{y}/zero_bias", np.zeros(c, np.float32))
        neg_one = gr.add(f"{y}/neg_one", np.full((c, 1, 1, 1), -1.0, np.float32))
        one_minus_a = gr.add(f"{y}/one_minus_slope", (1.0 - a).reshape(c, 1, 1, 1))
        dw = {"group": c, "kernel_shape": [1, 1]}
        out += [
            helper.make_node("Conv", [x, neg_one, zeros], [f"{y}/neg_x"], **dw),
            helper.make_node("Relu", [f"{y}/neg_x"], [f"{y}/neg"]),
            helper.make_node("Conv", [f"{y}/neg", one_minus_a, zeros], [f"{y}/neg_part"], **dw),
            helper.make_node("Add", [f"{y}/neg_part", x], [y]),
        ]
    gr.nodes = out


def _merge_sibling_convs(gr: Graph) -> None:
    """Ungrouped convolutions with the same input and attributes (P-Net's face and box heads) -> one
    convolution over the stacked filters and a ``Split``: one pass over the input instead of one
    per head, and one layout conversion of the output."""
    from onnx import helper

    groups: dict[tuple, list[Any]] = {}
    for node in gr.nodes:
        if node.op_type != "Conv" or len(node.input) != 3 or node.input[1] not in gr.consts or node.input[2] not in gr.consts:
            continue
        a = _attrs(node)
        if a.get("group", 1) != 1:
            continue
        key = (node.input[0], tuple(sorted((k, str(v)) for k, v in a.items())), tuple(gr.consts[node.input[1]].dims[1:]))
        groups.setdefault(key, []).append(node)
    for convs in groups.values():
        if len(convs) < 2 or gr.opset < 13:
            continue
        ws = [gr.array(c.input[1]) for c in convs]
        bs = [gr.array(c.input[2]) for c in convs]
        first = convs[0]
        merged = f"{first.output[0]}/merged"
        conv = helper.make_node("Conv", [first.input[0], gr.add(f"{merged}_w", np.concatenate(ws)), gr.add(f"{merged}_b", np.concatenate(bs))], [merged], **_attrs(first))
        split = helper.make_node("Split", [merged, gr.add(f"{merged}_sizes", np.array([w.shape[0] for w in ws], np.int64))], [c.output[0] for c in convs], axis=1)
        i = gr.nodes.index(first)
        gr.nodes = [n for n in gr.nodes if n not in convs]
        gr.nodes[i:i] = [conv, split]


def _pad_ceil_pools(gr: Graph) -> None:
    """Max-pools with ``ceil_mode=1`` (not in the blocked layout) -> ``ceil_mode=0`` with ``stride - 1``
    pixels of padding at the bottom and right: the same windows over the same pixels for every input
    size (padding never wins a max)."""
    from onnx import helper

    for i, node in enumerate(gr.nodes):
        if node.op_type != "MaxPool":
            continue
        a = _attrs(node)
        strides = list(a.get("strides", [1, 1]))
        if a.get("ceil_mode", 0) == 1 and not any(a.get("pads", [])) and list(a.get("dilations", [1, 1])) == [1, 1]:
            gr.nodes[i] = helper.make_node(
                "MaxPool", list(node.input), list(node.output), name=node.name,
                kernel_shape=a["kernel_shape"], strides=strides, pads=[0, 0, strides[0] - 1, strides[1] - 1],
            )


def optimize_graph(model: Any, pad_pools: bool = False, outputs: "tuple[str, ...] | None" = None) -> Any:
    """Rewrite a net's ONNX graph into a faster, equivalent form; returns a new ``ModelProto``.

    The rewrites (each one a function above, each equivalent up to float rounding, about 1e-6):

    * ``outputs``: only these graph outputs are kept, with the nodes they need (P-Net and R-Net
      never need their landmark heads; ONNX Runtime runs every node whichever outputs are asked for);
    * the face softmax folded into a sigmoid (:func:`_fold_face_softmax`);
    * max-pools moved before the PReLUs they follow (:func:`_pool_before_prelu`);
    * output channels padded to whole blocks of the blocked layout (:func:`_pad_channels`);
    * per-channel PReLUs split into ops ONNX Runtime fuses (:func:`_split_prelus`); PReLUs on
      2-D tensors (after the fully connected layer) are left alone;
    * convolutions on the same input merged (:func:`_merge_sibling_convs`: P-Net's heads);
    * ``pad_pools``: ceil-mode max-pools as padded pools (:func:`_pad_ceil_pools`). Measured:
      P-Net 10-13 % faster; R-Net and O-Net slower, so the backend asks for it for P-Net only.

    Together, per call on this project's 2-core machine (1 thread, CPU time, openmtcnn's weights,
    against the PReLU split and padded pools alone, in one process): P-Net on a strip of
    58 x 384 pixels (the cascade's unit on tall levels) 1.67 -> 1.02 ms, R-Net on 32 crops
    2.05 -> 1.13 ms, O-Net on 16 crops 4.92 -> 4.64 ms.
    """
    import copy

    gr = Graph(copy.deepcopy(model))
    gr.prune(outputs)
    _fold_face_softmax(gr)
    _pool_before_prelu(gr)
    _pad_channels(gr)
    _split_prelus(gr)
    _merge_sibling_convs(gr)
    if pad_pools:
        _pad_ceil_pools(gr)
    return gr.finish()

