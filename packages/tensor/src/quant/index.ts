export * from './quantized-weight';
export * from './ops';
export * from './quantize-module';
