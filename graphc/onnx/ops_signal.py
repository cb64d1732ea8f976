"""ONNX DFT and STFT as products with static cosine and sine matrices (graphc has no complex dtype: the last axis
holds the real part, or the real and imaginary parts, as ONNX lays them out). O(n²) per transform, in float64."""
from __future__ import annotations

import numpy as np

from .. import dsl as gc
from .convert import axis_of, converts


def _parts(x):
    """(real, imaginary or None) of an ONNX signal whose last axis is 1 (real) or 2 (complex)."""
    if x.shape[-1] == 1:
        return x[..., 0], None
    if x.shape[-1] == 2:
        return x[..., 0], x[..., 1]
    return None, None


def _fitted(t, n: int):
    """t along its last axis cut or zero-padded to n (np.fft's n=)."""
    length = t.shape[-1]
    if length > n:
        return t[..., :n]
    if length < n:
        return gc.pad(t, ((0, 0),) * (t.ndim - 1) + ((0, n - length),))
    return t


def _transform(re, im, n: int, inverse: bool, onesided: bool):
    """The DFT of length n along the last axis of (re, im): forward (onesided: bins 0..n/2), inverse (1/n), or the
    inverse of a one-sided spectrum to a real signal of length n (np.fft.irfft). Returns (re, im or None)."""
    wide = np.promote_types(re.dtype, np.float64)
    re = gc.cast(re, wide)
    im = gc.cast(im, wide) if im is not None else None
    if inverse and onesided:  # Hermitian: every bin but 0 and n/2 counts twice; their imaginary parts drop out
        bins = n // 2 + 1
        re, im = _fitted(re, bins), (_fitted(im, bins) if im is not None else None)
        k, t = np.arange(bins)[:, None], np.arange(n)[None, :]
        weight = np.where((k == 0) | (2 * k == n), 1.0, 2.0) / n
        cos, sin = weight * np.cos(2 * np.pi * k * t / n), weight * np.sin(2 * np.pi * k * t / n)
        out = gc.matmul(re, gc.const(cos))
        return (out - gc.matmul(im, gc.const(sin)) if im is not None else out), None
    re, im = _fitted(re, n), (_fitted(im, n) if im is not None else None)
    bins = n // 2 + 1 if onesided and not inverse else n
    t, k = np.arange(n)[:, None], np.arange(bins)[None, :]
    cos, sin = np.cos(2 * np.pi * t * k / n), np.sin(2 * np.pi * t * k / n)
    if inverse:
        cos, sin = cos / n, -sin / n  # e^{+i}: the sine's sign flips, and 1/n
    c, s = gc.const(cos), gc.const(sin)
    out_re, out_im = gc.matmul(re, c), -gc.matmul(re, s)
    if im is not None:
        out_re, out_im = out_re + gc.matmul(im, s), out_im + gc.matmul(im, c)
    return out_re, out_im


def _complex(re, im, dtype):
    parts = [re] if im is None else [re, im]
    return gc.cast(gc.stack(parts, axis=-1), dtype)


@converts("DFT")
def dft(ctx):
    x = ctx.x(0)
    re, im = _parts(x)
    if re is None:
        raise ctx.error(f"the last axis must be 1 (real) or 2 (complex), got {x.shape[-1]}")
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    if ctx.opset >= 20:
        axis = int(ctx.ints(2, "axis")[0]) if ctx.has(2) else -2
    else:
        axis = ctx.attr("axis", 1)
    axis = axis_of(ctx, axis, x.ndim)
    if axis == x.ndim - 1:
        raise ctx.error("the transformed axis cannot be the last one (it holds the real and imaginary parts)")
    length = x.shape[axis]
    n = int(ctx.ints(1, "dft_length")[0]) if ctx.has(1) else (2 * (length - 1) if inverse and onesided else length)
    if not isinstance(length, int) or n < 1:
        raise ctx.error(f"needs a static signal length and a positive dft_length, got {length} and {n}")
    moved = [t if t is None else gc.swapaxes(t, axis, -1) for t in (re, im)]
    out_re, out_im = _transform(moved[0], moved[1], n, inverse, onesided)
    if inverse and onesided:
        return gc.swapaxes(_complex(out_re, None, x.dtype), axis, -2)
    return gc.swapaxes(_complex(out_re, out_im, x.dtype), axis, -2)


@converts("STFT")
def stft(ctx):
    """Frames of `frame_length` every `frame_step` samples (zero-padded at the end), weighted by the window, each
    transformed: (batch, frames, bins, 2)."""
    x = ctx.x(0)
    re, im = _parts(x)
    if re is None or x.ndim != 3:
        raise ctx.error(f"the signal must be (batch, length, 1 or 2), got {tuple(x.shape)}")
    (step,) = ctx.ints(1, "frame_step")
    window = ctx.x(2) if ctx.has(2) else None
    if ctx.has(3):
        (frame,) = ctx.ints(3, "frame_length")
    else:
        frame = window.shape[0] if window is not None else x.shape[1]
    onesided = bool(ctx.attr("onesided", 1))
    length = x.shape[1]
    if not isinstance(length, int) or step < 1 or frame < 1 or frame > length:
        raise ctx.error(f"frame_length {frame} and frame_step {step} do not fit a signal of static length {length}")
    frames = 1 + (length - frame) // step
    starts = np.arange(frames)[:, None] * step + np.arange(frame)[None, :]  # (frames, frame): all inside
    parts = [t if t is None else gc.take(t, starts.astype(np.int64), axis=1) for t in (re, im)]
    if window is not None:
        parts = [t if t is None else t * window for t in parts]
    out_re, out_im = _transform(parts[0], parts[1], frame, False, onesided)
    return _complex(out_re, out_im, x.dtype)
