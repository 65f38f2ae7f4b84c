"""FLOPs of the network, counted from the layer shapes, and the matmul peak they are compared with."""

from __future__ import annotations

import numpy as np

from .measure import timed


def layer_flops(layer, input_shape) -> tuple[int, tuple]:
    """(forward FLOPs of one example, output shape) of a Keras layer, counted from the shapes.

    A multiply-add counts 2 FLOPs; bias additions and activations are not counted.
    Conv2D: out_h·out_w·filters·(kh·kw·in_channels)·2. Conv2DTranspose: in_h·in_w·in_channels·filters·kh·kw·2
    (every input pixel is scattered through the whole kernel). Dense: in·units·2. Other layers (Flatten,
    Reshape) cost nothing. ``input_shape`` is one example's shape (no batch dimension).
    """
    from keras import layers

    output_shape = tuple(layer.compute_output_shape((1, *input_shape))[1:])
    if isinstance(layer, layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        in_h, in_w, in_c = input_shape
        flops = 2 * in_h * in_w * in_c * layer.filters * kh * kw
    elif isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        out_h, out_w, _ = output_shape
        flops = 2 * out_h * out_w * layer.filters * kh * kw * input_shape[-1]
    elif isinstance(layer, layers.Dense):
        flops = 2 * int(np.prod(input_shape[:-1])) * input_shape[-1] * layer.units
    else:
        flops = 0
    return int(flops), output_shape


def network_flops(network, input_shape) -> tuple[int, list]:
    """Forward FLOPs of one example through a network whose ``layers`` are listed in call order."""
    total, rows, shape = 0, [], tuple(input_shape)
    for layer in network.layers:
        flops, shape = layer_flops(layer, shape)
        total += flops
        if flops:
            rows.append({"layer": f"{network.name}/{layer.name}", "flops": flops, "output_shape": list(shape)})
    return total, rows


def model_flops(model) -> dict:
    """Forward FLOPs of one image through a BetaVAE (encoder + decoder), and ×3 for one trained image."""
    encoder, encoder_rows = network_flops(model.encoder, model.image_shape)
    decoder, decoder_rows = network_flops(model.decoder, (model.latent_dim,))
    forward = encoder + decoder
    return {
        "encoder_forward": encoder,
        "decoder_forward": decoder,
        "forward": forward,
        "trained_image": 3 * forward,  # forward + backward (≈ 2× forward: input and weight gradients)
        "layers": encoder_rows + decoder_rows,
    }


def matmul_peaks(n: int):
    """Functions measuring numpy's and tf.linalg.matmul's float32 GFLOP/s on [n, n] @ [n, n]."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    product = tf.function(lambda: tf.linalg.matmul(ta, tb))
    flops = 2.0 * n**3

    def numpy_rate():
        return flops / timed(lambda: a @ b) / 1e9

    def tf_rate():
        return flops / timed(lambda: product().numpy()) / 1e9

    numpy_rate(), tf_rate()  # warm-up
    return numpy_rate, tf_rate
