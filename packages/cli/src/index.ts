export { main, type CliIO } from './main';
export { EXIT } from './exit';
