// The cpu backend is always registered: it is the fallback of every backend order.
import '@tensorflow/tfjs-backend-cpu';
import './cpu-backend';

export * as tf from '@tensorflow/tfjs-core';
export * from './module';
export * from './safetensors';
export * from './layers';
export * from './ops';
export * from './autograd';
export * from './checkpoint';
export * from './random';
export * from './backend';
export * from './quant';
