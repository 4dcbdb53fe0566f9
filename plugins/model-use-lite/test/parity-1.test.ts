// Embeddings of the modules vs the shipped graph run by tfjs-converter: slice 1 of 3.
import { PARITY_SLICES, parityTest } from './parity-helper';

parityTest('sentences 1–20', PARITY_SLICES[0]);
