import { Linear, tf } from '@leantune/tensor';
import { Node, gpt2Like as sharedGpt2Like } from '@leantune/testing';

/** in → hidden → out MLP with children `fc1`, `fc2` (Linear). */
export function mlp(inF = 6, hidden = 8, out = 4): Node {
  return new Node({ fc1: new Linear(inF, hidden), fc2: new Linear(hidden, out) }, (s, x) => s.call('fc2', tf.relu(s.call('fc1', x))));
}

/** GPT-2 naming with the fused attn.c_attn LoRA targets by default, and a 5-word lm_head. */
export function gpt2Like(dim = 8, layers = 2, vocab = 5): Node {
  return sharedGpt2Like(dim, layers, { vocab, fusedQkv: true });
}
