export * from './types';
export { describeMethodContract, runMethodContract, formatFailure, CONTRACT_CHECKS, type ContractCheck } from './describe';
export { checkRegistration, checkInvalidConfigs, UNKNOWN_KEY } from './checks-config';
export { checkTrainableParameters, checkIdentityAtInit, checkSaveLoad, checkMerge, formatParameterCounts } from './checks-model';
export { checkNoLeaks, checkLossFalls, LEAK_STEPS } from './checks-training';
export { trainableSafetensors, methodFiles, standaloneFiles, maxAbsDiff, CONTRACT_MODEL, CONTRACT_DATA } from './fixture';
