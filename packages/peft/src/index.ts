export * from './targets';
export * from './adapter-files';
export * from './modules-to-save';
export * from './tuner';
export * from './prompt';
