#!/usr/bin/env python3
"""Drives `limrank serve` with the official `openai` and `cohere` SDKs, as a
new user would, and prints one JSON object of what came back for
Tests/ServerTests/SDKClientTests.swift to check. Any SDK exception other
than the expected 401 propagates (non-zero exit, traceback on stderr).

usage: sdk_clients.py ROOT_URL API_KEY GENERATION_MODEL EMBEDDING_MODEL RERANK_MODEL
"""
import json
import sys

import cohere
import openai

root, key, gen_model, emb_model, rerank_model = sys.argv[1:6]
client = openai.OpenAI(base_url=root + "/v1", api_key=key, max_retries=0)
out = {}

out["models"] = sorted(m.id for m in client.models.list().data)

emb = client.embeddings.create(model=emb_model, input=["wing flutter at supersonic speed", "boundary layer"])
out["embeddings"] = [d.embedding for d in emb.data]

messages = [{"role": "user", "content": "Name a colour."}]
plain = client.chat.completions.create(model=gen_model, messages=messages, max_tokens=8, temperature=0)
out["chat"] = plain.choices[0].message.content
stream = client.chat.completions.create(model=gen_model, messages=messages, max_tokens=8, temperature=0, stream=True)
out["chat_streamed"] = "".join((chunk.choices[0].delta.content or "") for chunk in stream if chunk.choices)

schema = {"type": "object", "properties": {"relevant": {"type": "boolean"}}, "required": ["relevant"], "additionalProperties": False}
structured = client.chat.completions.create(
    model=gen_model, messages=[{"role": "user", "content": "Is the sky blue? Answer in JSON."}], max_tokens=64, temperature=0,
    response_format={"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": schema}})
out["json_schema"] = structured.choices[0].message.content

prompt = "The quick brown fox"
completion = client.completions.create(model=gen_model, prompt=prompt, max_tokens=1, temperature=0, echo=True, logprobs=1)
choice = completion.choices[0]
out["completion"] = {"prompt": prompt, "text": choice.text, "tokens": choice.logprobs.tokens,
                     "token_logprobs": choice.logprobs.token_logprobs, "text_offset": choice.logprobs.text_offset}

try:
    openai.OpenAI(base_url=root + "/v1", api_key="wrong-" + key, max_retries=0).models.list()
    out["wrong_key"] = "accepted"
except openai.AuthenticationError as error:
    out["wrong_key"] = error.status_code

documents = ["boundary layer transition", "wing flutter at supersonic speed", "heat transfer in hypersonic flow"]
query = "supersonic wing flutter"
v1 = cohere.Client(api_key=key, base_url=root).rerank(model=rerank_model, query=query, documents=documents, top_n=3)
out["cohere_v1"] = [[r.index, r.relevance_score] for r in v1.results]
v2 = cohere.ClientV2(api_key=key, base_url=root).rerank(model=rerank_model, query=query, documents=documents, top_n=3)
out["cohere_v2"] = [[r.index, r.relevance_score] for r in v2.results]

print(json.dumps(out))
