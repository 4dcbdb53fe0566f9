import { checkTraining } from './training-check';

test.each(['bert', 'roberta', 'gpt2', 'llama', 'qwen2', 'mistral'] as const)('%s: gradient steps on every parameter lower the loss, and nothing leaks', checkTraining);
