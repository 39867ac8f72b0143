#!/usr/bin/env python3
"""`python3 -m llama_cpp.server` with one fix: `echo` log-probabilities for
GGUFs that add no BOS token. Started by Scripts/llamacpp_server.sh (which
passes the server's own arguments through); LLAMACPP_VANILLA=1 there starts
the unpatched server instead.

The bug (llama-cpp-python 0.3.36, `Llama._create_completion`): with `echo`,
the echoed tokens are paired with logit rows as if a BOS token led the
prompt and had been dropped. When the model adds none (SmolLM2, Qwen: their
GGUFs say add_bos_token = false), every echoed token gets the row *after*
it: its log-probability is read from the distribution over the next token,
and the generated token's entry is lost. LimRank reads an answer outside
the server's top 20 from exactly such an entry
(`OpenAICompatibleModel.continuationLogProbability`), so on SmolLM2 in
LimRank's raw format (where " true" ranks below 5,000th) every score would
be wrong. The fix puts an empty row in front when no BOS was dropped, so
entry i reads row i - 1, as it does when a BOS leads. Checked by
Tests/ServerTests/LlamaCppServerTests.swift (echo against top_logprobs, and
the scores against LimRank's engine).
"""
import inspect
import signal
import sys
import textwrap

# A parent may have started us with these blocked (Foundation's Process does);
# the launcher stops the server with SIGTERM.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])

import llama_cpp.llama as llama_module
from llama_cpp import Llama

BUGGY = "all_logprobs = Llama.logits_to_logprobs(self._scores)[token_offset:]"
FIX = [
    "if echo and len(prompt_tokens) > 0 and prompt_tokens[0] != self.token_bos():",
    "    all_logprobs = np.concatenate([np.zeros_like(all_logprobs[:1]), all_logprobs])",
]

lines = textwrap.dedent(inspect.getsource(Llama._create_completion)).split("\n")
at = [i for i, line in enumerate(lines) if line.strip() == BUGGY]
if len(at) == 1:
    indent = lines[at[0]][: len(lines[at[0]]) - len(lines[at[0]].lstrip())]
    lines[at[0] + 1 : at[0] + 1] = [indent + line for line in FIX]
    namespace: dict = {}
    exec(compile("\n".join(lines), llama_module.__file__, "exec"), llama_module.__dict__, namespace)
    Llama._create_completion = namespace["_create_completion"]
    print("llamacpp_server.py: echo log-probabilities aligned for models without BOS", file=sys.stderr)
else:
    print("llamacpp_server.py: this llama-cpp-python's completion code differs from 0.3.36's; serving it unpatched",
          file=sys.stderr)

from llama_cpp.server.__main__ import main  # noqa: E402

sys.argv[0] = "llama_cpp.server"
main()
