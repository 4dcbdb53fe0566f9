export { main, type CliIO } from './main';
export { EXIT, Interrupted } from './exit';
/** The TS API is the Runner: everything the commands use, from @leantune/runner. */
export * from '@leantune/runner';
export { parseAdapterRef } from './commands/model-commands';
export { runTrain, type TrainFlags } from './commands/train';
