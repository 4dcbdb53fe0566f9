export * from './job';
export * from './files';
export * from './plugins';
export * from './redis';
export * from './worker';
export * from './coordinator';
export * from './sweep';
