"""How far integer products move all-MiniLM-L6-v2's vectors from fp32's (BENCHMARKS.md, the
int16 section): every `Linear` of the sentence-transformers model gets quantised weights and
quantised inputs (rounded to nearest, symmetric, one scale per weight column or block and
per input row or block), and the 32 reference texts of tests/fixtures/embeddings.py are
embedded; prints the lowest and mean cosine against the model's own fp32 vectors.

    "${NODEFUSION_BENCH_VENV:-target/bench-venv}/bin/python" benches/embed/quantization_error.py

The default model must be installed (`nodefusion model pull`).
"""
import os
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

fixture = (Path(__file__).parents[2] / "tests" / "fixtures" / "embeddings.py").read_text()
namespace = {}
exec(fixture[fixture.index("sentences = ["):fixture.index("texts = [")], namespace)
texts = eval(fixture[fixture.index("texts = [") + len("texts = "):].split("\n]\n")[0] + "]", namespace)

models = os.environ.get("NODEFUSION_MODELS") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nodefusion", "models"
)
model = SentenceTransformer(os.path.join(models, "sentence-transformers", "all-MiniLM-L6-v2"), device="cpu")
reference = model.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
layers = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
weights = {id(layer): layer.weight.data.clone() for layer in layers}


def quantised(values, limit, block):
    """`values` rounded to integers of at most `limit` times a scale per row of its last
    dimension (or per `block` values of it)."""
    shape = values.shape
    if block:
        values = values.reshape(*shape[:-1], shape[-1] // block, block)
    scale = values.abs().amax(-1, keepdim=True).clamp_min(1e-30) / limit
    return (torch.round(values / scale).clamp(-limit, limit) * scale).reshape(shape)


def lowest_cosine(weight_limit, weight_block, input_limit, input_block):
    hooks = []
    for layer in layers:
        # Weights are [out, in]: a row is an output column of the product.
        if weight_limit:
            layer.weight.data = quantised(weights[id(layer)], weight_limit, weight_block)
        if input_limit:
            hooks.append(layer.register_forward_pre_hook(
                lambda module, inputs: (quantised(inputs[0], input_limit, input_block),)))
    vectors = model.encode(texts, convert_to_tensor=True, normalize_embeddings=True)
    for hook in hooks:
        hook.remove()
    for layer in layers:
        layer.weight.data = weights[id(layer)]
    cosines = (vectors * reference).sum(-1)
    return cosines.min().item(), cosines.mean().item()


for label, case in [
    ("int8 weights per column, int8 inputs per row", (127, 0, 127, 0)),
    ("int8 weights per column alone", (127, 0, None, 0)),
    ("int8 inputs per row alone", (None, 0, 127, 0)),
    ("int8 weights and inputs, a scale per 32 values", (127, 32, 127, 32)),
    ("int16: 10-bit weights per column, 11-bit inputs per row", (511, 0, 2047, 0)),
]:
    lowest, mean = lowest_cosine(*case)
    print(f"{label:58s} lowest {lowest:.5f} mean {mean:.5f}")
