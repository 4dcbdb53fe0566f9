export * from './stats';
export * from './store';
export * from './runner';
export * from './analysis';
export * from './tables';
export * from './report';
export * from './progress';
export * from './environment';
