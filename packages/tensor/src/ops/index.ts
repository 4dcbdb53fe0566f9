export * from './fused';
