// Embeddings of the modules vs the shipped graph run by tfjs-converter: slice 2 of 3.
import { PARITY_SLICES, parityTest } from './parity-helper';

parityTest('sentences 21–40', PARITY_SLICES[1]);
