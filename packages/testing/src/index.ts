export * from './tiny-model';
export * from './tiny-data';
export * from './fixtures';
export * from './contract';
