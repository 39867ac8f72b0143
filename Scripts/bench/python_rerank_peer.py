"""The Python peer for the server load test: all-MiniLM-L6-v2 through
sentence-transformers behind FastAPI/uvicorn, answering POST /v1/rerank in the
same Cohere shape as `limrank serve --reranker dense` (cosine of normalised
mean-pooled embeddings; query and documents encoded in one batch per request).

Pinned: fastapi 0.165.0, uvicorn 0.54.0, sentence-transformers 6.2.0, torch 2.15.0.
Usage: python3 python_rerank_peer.py MODEL_DIR PORT
"""
import sys

import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer

model_dir, port = sys.argv[1], int(sys.argv[2])
torch.set_grad_enabled(False)
model = SentenceTransformer(model_dir, device="cpu")
app = FastAPI()


class RerankRequest(BaseModel):
    query: str
    documents: list[str]
    top_n: int | None = None
    model: str | None = None
    return_documents: bool = False


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/v1/rerank")
def rerank(request: RerankRequest):
    # A plain `def` runs in uvicorn's thread pool, so requests overlap as they would in production.
    vectors = model.encode([request.query] + request.documents, batch_size=64,
                           normalize_embeddings=True, convert_to_numpy=True)
    scores = vectors[1:] @ vectors[0]
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    top = order[: request.top_n or len(order)]
    return {"id": "peer", "model": "minilm",
            "results": [{"index": i, "relevance_score": float(scores[i])} for i in top]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
