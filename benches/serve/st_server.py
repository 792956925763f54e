"""The sentence-transformers peer of benches/serve/run.sh, served as seed workload 3 served it:
one SentenceTransformer behind FastAPI + uvicorn, each request encoded on uvicorn's thread pool
(threads against one model), with OpenAI's /v1/embeddings request and answer (float or
base64 vectors).

    python st_server.py MODEL_DIRECTORY PORT
"""
import base64
import os
import sys

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer

model_directory, port = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(os.cpu_count() or 1)
model = SentenceTransformer(model_directory, device="cpu")
model.encode(["warm up"])
app = FastAPI()


class EmbeddingRequest(BaseModel):
    input: str | list[str]
    model: str | None = None
    encoding_format: str = "float"


@app.get("/health")
def health():
    return "ok"


@app.post("/v1/embeddings")
def embeddings(request: EmbeddingRequest):
    texts = [request.input] if isinstance(request.input, str) else request.input
    vectors = model.encode(texts, batch_size=32, convert_to_numpy=True)
    if request.encoding_format == "base64":
        encoded = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
    else:
        encoded = [v.tolist() for v in vectors]
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)
        ],
        "model": request.model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
